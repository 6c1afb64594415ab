/*
 * datadir.h - where the data files shipped with the product are found.
 *
 * The n-gram model, the default allowlist and the resolver lists live in
 * one directory, the first of these that exists: $UGALLU_DATA_DIR when
 * set and not empty; the installed DATADIR (-DDATADIR="...", the
 * install prefix's share/ugallu-dns-detect); the source tree's data
 * folder the binary was built from (-DSRC_DATADIR="..."); and "data"
 * relative to the working directory.
 */
#ifndef DD_DATADIR_H
#define DD_DATADIR_H

#include <stddef.h>

/*
 * Write the path of data file name into buf (len bytes).  Returns 0, or
 * -ENAMETOOLONG when it does not fit (buf then holds "").  Reads the
 * environment, so any thread may call it once start-up is over.
 */
int datadir_path(const char *name, char *buf, size_t len);

#endif
