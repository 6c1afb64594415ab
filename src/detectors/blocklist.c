/* placeholder: being written */
typedef int placeholder_blocklist_t;
