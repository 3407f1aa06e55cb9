/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Cache prefetch hints for ring and buffer memory the other side's CPU wrote
 * last: issued for a whole burst before it is worked on, so the misses of
 * its frames overlap instead of each stalling its own frame. Header-only,
 * for the library's ring code and the sidecar's packet paths.
 *
 * A line about to be written is best fetched with PREFETCHW (exclusive at
 * once, no second trip to upgrade a shared copy); x86 CPUs have it when
 * CPUID says so (every AMD64 CPU, Intel since Broadwell), and elsewhere the
 * compiler's write hint is used. A loop that only prefetches is dropped by
 * the compiler (it has no effect it can see): end such a loop's body with
 * prefetch_keep().
 */
#pragma once

#include <stdbool.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static inline bool cpu_has_prefetchw(void) {
        static int known = -1;
        int k = __atomic_load_n(&known, __ATOMIC_RELAXED);

        if (k < 0) {
                unsigned int a, b, c, d;

                k = __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & (1u << 8)); /* PRFCHW */
                __atomic_store_n(&known, k, __ATOMIC_RELAXED);
        }
        return k;
}
#endif

static inline void prefetch_read(const void *p) {
        __builtin_prefetch(p, 0, 3);
}

static inline void prefetch_write(const void *p) {
#if defined(__x86_64__) || defined(__i386__)
        if (cpu_has_prefetchw()) {
                __asm__ volatile("prefetchw %0" : : "m"(*(const char *) p));
                return;
        }
#endif
        __builtin_prefetch(p, 1, 3);
}

/* Keeps a loop whose body only prefetches (see above). */
static inline void prefetch_keep(void) {
        __asm__ volatile("");
}
