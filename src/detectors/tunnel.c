/* placeholder: being written */
typedef int placeholder_tunnel_t;
