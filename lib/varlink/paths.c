/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where the sidecar's sockets live by default. Kept here, beside the
 * protocol, so that vu-sidecar and vuctl compute the same path from the
 * same environment and a probe finds the daemon without being told.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "varlink.h"

static const char *env_nonempty(const char *name) {
        const char *v = getenv(name);

        return v && *v ? v : NULL;
}

int varlink_default_runtime_dir(char **ret) {
        const char *e;
        char *s;

        e = env_nonempty("VU_SIDECAR_RUNTIME_DIR");
        if (!e)
                e = env_nonempty("RUNTIME_DIRECTORY");
        if (e) {
                /* systemd may pass several directories separated by ':'; the first is ours. */
                size_t n = strcspn(e, ":");

                s = strndup(e, n);
        } else if (geteuid() == 0)
                s = strdup("/run/vusidecar");
        else {
                e = env_nonempty("XDG_RUNTIME_DIR");
                if (!e)
                        return -ENXIO;
                if (asprintf(&s, "%s/vusidecar", e) < 0)
                        s = NULL;
        }
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int varlink_default_control_path(char **ret) {
        const char *e = env_nonempty("VU_SIDECAR_CONTROL");
        char *dir, *s;
        int r;

        if (e && strcmp(e, "none") != 0) {
                s = strdup(e);
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }

        r = varlink_default_runtime_dir(&dir);
        if (r < 0)
                return r;
        r = asprintf(&s, "%s/control.sock", dir);
        free(dir);
        if (r < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}
