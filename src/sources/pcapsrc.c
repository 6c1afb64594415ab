/* placeholder: being written */
typedef int placeholder_pcapsrc_t;
