/* placeholder: being written */
typedef int placeholder_doh_t;
