/*
 * hash.h - FNV-1a, the one non-cryptographic hash the modules share:
 * table keys, deduplication keys and SecurityEvent names.
 *
 * Header-only: a few lines on hot paths.  The figures must never change:
 * SecurityEvent names are made from them, and a retry after an upgrade
 * must find the same name.
 */
#ifndef DD_HASH_H
#define DD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_OFFSET 0xcbf29ce484222325ull
#define HASH_FNV_PRIME 0x100000001b3ull

/* h extended by one byte. */
static inline uint64_t
hash_byte(uint64_t h, uint8_t b)
{
    return (h ^ b) * HASH_FNV_PRIME;
}

/* h extended by the n bytes at p. */
static inline uint64_t
hash_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *s = p;

    for (size_t i = 0; i < n; i++) {
        h = hash_byte(h, s[i]);
    }
    return h;
}

/* h extended by string s and a 0xff after it, so that the fields "ab",
 * "c" and "a", "bc" hash apart. */
static inline uint64_t
hash_field(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h = hash_byte(h, (uint8_t)*s);
    }
    return hash_byte(h, 0xff);
}

#endif
