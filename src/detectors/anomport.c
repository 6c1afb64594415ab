/* placeholder: being written */
typedef int placeholder_anomport_t;
