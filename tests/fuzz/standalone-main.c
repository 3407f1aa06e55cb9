/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The driver for fuzz targets in builds without libFuzzer (gcc, VU_FUZZ=OFF):
 * runs LLVMFuzzerTestOneInput() once on every file named on the command line
 * or found in a directory named there, so a release build still replays the
 * seed corpus (and any crash reproducer someone checks in).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, unsigned long *count) {
        FILE *f = fopen(path, "re");
        uint8_t *buf = NULL;
        long len;

        if (!f) {
                fprintf(stderr, "Failed to open %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
                fprintf(stderr, "Failed to size %s: %s\n", path, strerror(errno));
                fclose(f);
                return -1;
        }
        buf = malloc(len > 0 ? (size_t) len : 1);
        if (!buf || fread(buf, 1, (size_t) len, f) != (size_t) len) {
                fprintf(stderr, "Failed to read %s\n", path);
                free(buf);
                fclose(f);
                return -1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t) len);
        free(buf);
        (*count)++;
        return 0;
}

static int run_path(const char *path, unsigned long *count) {
        struct dirent **names = NULL;
        struct stat st;
        int n, r = 0;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "Failed to stat %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode))
                return run_file(path, count);

        n = scandir(path, &names, NULL, alphasort);
        if (n < 0) {
                fprintf(stderr, "Failed to list %s: %s\n", path, strerror(errno));
                return -1;
        }
        for (int i = 0; i < n; i++) {
                char *p;

                if (names[i]->d_name[0] != '.' && asprintf(&p, "%s/%s", path, names[i]->d_name) >= 0) {
                        if (run_path(p, count) < 0)
                                r = -1;
                        free(p);
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv) {
        unsigned long count = 0;
        int r = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++)
                if (run_path(argv[i], &count) < 0)
                        r = 1;
        printf("%s: %lu inputs executed once each (no libFuzzer in this build)\n", argv[0], count);
        if (count == 0) {
                fprintf(stderr, "%s: no inputs found\n", argv[0]);
                return 1;
        }
        return r;
}
