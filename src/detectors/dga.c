/* placeholder: being written */
typedef int placeholder_dga_t;
