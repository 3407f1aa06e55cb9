/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vu-sidecar's main(): parse the options, open every device's backing
 * store, take socket-activated fds, create the sockets, and run the one
 * sd_event loop until SIGTERM/SIGINT. Signals, sd_notify (READY, STATUS,
 * STOPPING, the watchdog) and the graceful stop live here too: on the first
 * SIGTERM the devices stop taking requests, the ones already taken from the
 * rings complete and are pushed back, then we exit; a second signal or
 * SIDECAR_STOP_TIMEOUT_USEC forces the exit.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "blk-io.h"
#include "blk.h"
#include "device.h"
#include "events.h"
#include "log.h"
#include "options.h"
#include "sidecar.h"

uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

const char *io_engine_to_string(IoEngineKind k) {
        switch (k) {
        case IO_ENGINE_IO_URING:
                return "io_uring";
        case IO_ENGINE_THREADS:
                return "threads";
        default:
                return "auto";
        }
}

Device *sidecar_find_device(Sidecar *s, const char *id) {
        if (!id || !id[0])
                return s->n_devices == 1 ? s->devices[0] : NULL;
        for (size_t i = 0; i < s->n_devices; i++)
                if (strcmp(s->devices[i]->id, id) == 0)
                        return s->devices[i];
        return NULL;
}

uint64_t sidecar_uptime_usec(const Sidecar *s) {
        return now_usec(CLOCK_MONOTONIC) - s->start_monotonic_usec;
}

void sidecar_update_status(Sidecar *s) {
        char buf[2048] = "STATUS=";
        size_t n = strlen(buf);

        if (s->stopping)
                n += (size_t) snprintf(buf + n, sizeof(buf) - n, "stopping: ");
        for (size_t i = 0; i < s->n_devices && n < sizeof(buf); i++) {
                char line[512];

                device_describe(s->devices[i], line, sizeof(line));
                n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "; " : "", line);
        }
        if (n < sizeof(buf) && s->n_devices > 0 && s->options.n_blk > 0)
                n += (size_t) snprintf(buf + n, sizeof(buf) - n, " (%s I/O)",
                                       io_engine_to_string(s->io_engine));
        if (n >= sizeof(buf))
                buf[sizeof(buf) - 1] = 0;

        if (s->last_status && strcmp(s->last_status, buf) == 0)
                return;
        free(s->last_status);
        s->last_status = strdup(buf);
        (void) sd_notify(false, buf);
}

static uint64_t sidecar_in_flight(Sidecar *s) {
        uint64_t n = 0;

        for (size_t i = 0; i < s->n_devices; i++)
                if (s->devices[i]->vtable->in_flight)
                        n += s->devices[i]->vtable->in_flight(s->devices[i]);
        return n;
}

void sidecar_check_stopped(Sidecar *s) {
        int state = sd_event_get_state(s->event);

        if (state == SD_EVENT_FINISHED || state < 0)
                return;

        if (!s->stopping) {
                /* Nothing left to serve (an Accept=yes connection ended): stop like SIGTERM. */
                for (size_t i = 0; i < s->n_devices; i++)
                        if (s->devices[i]->state != DEVICE_STOPPED)
                                return;
                if (s->n_devices > 0)
                        sidecar_stop(s);
                return;
        }
        if (sidecar_in_flight(s) == 0) {
                log_debug("All in-flight requests are done, exiting.");
                (void) sd_event_exit(s->event, s->exit_code);
        }
}

static int sidecar_on_stop_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        Sidecar *s = userdata;

        log_error("Timed out after %llu s waiting for %llu in-flight request(s), exiting anyway.",
                  (unsigned long long) (SIDECAR_STOP_TIMEOUT_USEC / 1000000),
                  (unsigned long long) sidecar_in_flight(s));
        (void) sd_event_exit(s->event, 1);
        return 0;
}

void sidecar_stop(Sidecar *s) {
        int r;

        if (s->stopping)
                return;
        s->stopping = true;
        (void) sd_notify(false, "STOPPING=1");
        event_emit(s, NULL, "stopping", "%llu request(s) in flight",
                   (unsigned long long) sidecar_in_flight(s));

        for (size_t i = 0; i < s->n_devices; i++) {
                Device *d = s->devices[i];

                device_stop_listening(d);
                if (d->vu_ready && d->vtable->drain)
                        d->vtable->drain(d);
                else if (!d->vu_ready)
                        d->state = DEVICE_STOPPED;
        }
        sidecar_update_status(s);

        r = sd_event_add_time_relative(s->event, &s->stop_timer, CLOCK_MONOTONIC, SIDECAR_STOP_TIMEOUT_USEC,
                                       0, sidecar_on_stop_timeout, s);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the stop timeout, ignoring: %m");
        sidecar_check_stopped(s);
}

static int sidecar_on_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Sidecar *s = userdata;

        if (si->ssi_signo == SIGHUP) {
                log_info("Received SIGHUP: re-reading the devices' backing stores.");
                for (size_t i = 0; i < s->n_devices; i++)
                        if (s->devices[i]->vtable->reload)
                                s->devices[i]->vtable->reload(s->devices[i]);
                return 0;
        }

        if (s->stopping) {
                log_warning("Received SIG%s again: exiting now, abandoning %llu in-flight request(s).",
                            sigabbrev_np((int) si->ssi_signo), (unsigned long long) sidecar_in_flight(s));
                (void) sd_event_exit(s->event, sidecar_in_flight(s) > 0 ? 1 : 0);
                return 0;
        }
        log_info("Received SIG%s: stopping once %llu in-flight request(s) complete.",
                 sigabbrev_np((int) si->ssi_signo), (unsigned long long) sidecar_in_flight(s));
        sidecar_stop(s);
        return 0;
}

static int sidecar_setup_signals(Sidecar *s) {
        static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
        int r;

        for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
                r = sd_event_add_signal(s->event, NULL, sigs[i], sidecar_on_signal, s);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch %s: %m", strsignal(sigs[i]));
        }
        return 0;
}

static int sidecar_choose_io_engine(Sidecar *s) {
        int r;

        s->io_engine = s->options.io_engine;
        if (s->options.n_blk == 0 || s->io_engine == IO_ENGINE_THREADS)
                return 0;

        r = blk_io_uring_probe();
        if (r >= 0) {
                s->io_engine = IO_ENGINE_IO_URING;
                return 0;
        }
        if (s->options.io_engine == IO_ENGINE_IO_URING)
                return log_error_errno(r, "--io-engine io_uring: io_uring is not available here "
                                          "(io_uring_queue_init: %m); use --io-engine threads or auto");
        snprintf(s->io_engine_reason, sizeof(s->io_engine_reason), "io_uring_queue_init: %s", strerror(-r));
        log_notice("io_uring refused (%s), using the thread-pool I/O engine", strerror(-r));
        s->io_engine = IO_ENGINE_THREADS;
        return 0;
}

static int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/');; slash = strchr(slash + 1, '/')) {
                if (slash)
                        *slash = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                if (!slash)
                        break;
                *slash = '/';
        }
        return 0;
}

static bool path_in_dir(const char *path, const char *dir) {
        size_t l = strlen(dir);

        return path && dir && strncmp(path, dir, l) == 0 && path[l] == '/';
}

static int sidecar_add_device(Sidecar *s, Device *d) {
        Device **n = realloc(s->devices, (s->n_devices + 1) * sizeof(Device *));

        if (!n)
                return log_oom();
        s->devices = n;
        s->devices[s->n_devices++] = d;
        return 0;
}

/* Returns 0, or the exit code to use. */
static int sidecar_setup(Sidecar *s) {
        _cleanup_free_ int *activated = NULL;
        char **names = NULL;
        int n_fds, r, ret = 0;

        r = sidecar_choose_io_engine(s);
        if (r < 0)
                return 1;

        for (size_t i = 0; i < s->options.n_blk; i++) {
                Device *d;

                r = blk_device_new(s, &s->options.blk[i], &d);
                if (r < 0)
                        return 1;
                if (sidecar_add_device(s, d) < 0) {
                        device_free(d);
                        return 1;
                }
        }
        for (size_t i = 0; i < s->options.n_net; i++) {
                Device *d;

                if (!net_device_new) {
                        fprintf(stderr, "vu-sidecar: --net: virtio-net is not built into this vu-sidecar\n");
                        return 2;
                }
                r = net_device_new(s, "--net", s->options.net_specs[i], (unsigned) i, &d);
                if (r < 0)
                        return r == -EINVAL ? 2 : 1;
                if (sidecar_add_device(s, d) < 0) {
                        device_free(d);
                        return 1;
                }
        }

        /* Socket activation: fds named "vhost-user", after a device id, or "control". */
        activated = malloc(MAX(s->n_devices, (size_t) 1) * sizeof(int));
        if (!activated)
                return log_oom(), 1;
        for (size_t i = 0; i < s->n_devices; i++)
                activated[i] = -EBADF;

        n_fds = sd_listen_fds_with_names(true, &names);
        if (n_fds < 0) {
                log_error_errno(n_fds, "Failed to read the socket-activation fds: %m");
                return 1;
        }
        for (int i = 0; i < n_fds; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                const char *name = names && names[i] ? names[i] : "unknown";
                Device *d = NULL;

                if (strcmp(name, "control") == 0) {
                        safe_close(s->control_fd);
                        s->control_fd = fd;
                        log_info("Using the activated control socket (fd %d).", fd);
                        continue;
                }
                if (strcmp(name, "vhost-user") == 0 || (strcmp(name, "unknown") == 0 && n_fds == 1)) {
                        if (s->n_devices != 1) {
                                log_error("Socket activation: an fd named \"%s\" needs exactly one device, "
                                          "but "
                                          "there are %zu; name the fds after the device ids.",
                                          name, s->n_devices);
                                safe_close(fd);
                                ret = 1;
                                continue;
                        }
                        d = s->devices[0];
                } else
                        d = sidecar_find_device(s, name);
                if (!d) {
                        log_warning("Socket activation: no device is called \"%s\", closing fd %d.", name,
                                    fd);
                        safe_close(fd);
                        continue;
                }
                for (size_t k = 0; k < s->n_devices; k++)
                        if (s->devices[k] == d) {
                                safe_close(activated[k]);
                                activated[k] = fd;
                        }
        }
        for (int i = 0; names && i < n_fds; i++)
                free(names[i]);
        free(names);
        if (ret != 0) {
                for (size_t k = 0; k < s->n_devices; k++)
                        safe_close(activated[k]);
                return ret;
        }

        /* The default directory for sockets, if one of ours lives there. */
        bool need_dir = path_in_dir(s->options.control_path, s->options.runtime_dir) && s->control_fd < 0;
        for (size_t i = 0; i < s->n_devices; i++)
                if (activated[i] < 0 && s->devices[i]->mode == DEVICE_SOCKET_SERVER &&
                    path_in_dir(s->devices[i]->socket_path, s->options.runtime_dir))
                        need_dir = true;
        if (need_dir) {
                r = mkdir_p(s->options.runtime_dir, 0755);
                if (r < 0) {
                        log_error_errno(r, "Failed to create the runtime directory %s: %m",
                                        s->options.runtime_dir);
                        for (size_t k = 0; k < s->n_devices; k++)
                                safe_close(activated[k]);
                        return 1;
                }
        }

        for (size_t i = 0; i < s->n_devices; i++) {
                r = device_listen(s->devices[i], TAKE_FD(activated[i]));
                if (r < 0) {
                        for (size_t k = i + 1; k < s->n_devices; k++)
                                safe_close(activated[k]);
                        return 1;
                }
        }
        return 0;
}

static void sidecar_done(Sidecar *s) {
        if (control_stop && s->control)
                control_stop(s);
        for (size_t i = s->n_devices; i > 0; i--)
                device_free(s->devices[i - 1]);
        free(s->devices);
        s->devices = NULL;
        s->n_devices = 0;
        s->stop_timer = sd_event_source_disable_unref(s->stop_timer);
        s->control_fd = safe_close(s->control_fd);
        event_log_done(&s->events);
        free(s->last_status);
        s->event = sd_event_unref(s->event);
        options_done(&s->options);
}

int main(int argc, char *argv[]) {
        Sidecar s = {
                .control_fd = -EBADF,
        };
        sigset_t mask;
        int r, ret;

        log_open();
        r = options_parse(argc, argv, &s.options);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        log_set_max_level(s.options.log_level);

        s.start_realtime_usec = now_usec(CLOCK_REALTIME);
        s.start_monotonic_usec = now_usec(CLOCK_MONOTONIC);

        /* Before any thread exists, so the I/O workers inherit the mask and signals reach the loop. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                log_error_errno(errno, "Failed to block signals: %m");
                options_done(&s.options);
                return 1;
        }
        /* A frontend that vanishes mid-reply must not kill us. */
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&s.event);
        if (r < 0) {
                log_error_errno(r, "Failed to create the event loop: %m");
                options_done(&s.options);
                return 1;
        }
        r = sidecar_setup_signals(&s);
        if (r < 0) {
                sidecar_done(&s);
                return 1;
        }
        r = sd_event_set_watchdog(s.event, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog, ignoring: %m");
        else if (r > 0)
                log_debug("Watchdog enabled.");

        ret = sidecar_setup(&s);
        if (ret != 0) {
                sidecar_done(&s);
                return ret;
        }

        if (control_start) {
                r = control_start(&s);
                if (r < 0) {
                        log_error_errno(r, "Failed to start the control socket: %m");
                        sidecar_done(&s);
                        return 1;
                }
        } else if (s.options.control_path)
                log_debug("This build has no control socket; ignoring --control %s.",
                          s.options.control_path);

        event_emit(&s, NULL, "ready", "serving %zu device(s), %s I/O", s.n_devices,
                   io_engine_to_string(s.io_engine));
        free(s.last_status);
        s.last_status = NULL;
        sidecar_update_status(&s);
        (void) sd_notify(false, "READY=1");

        r = sd_event_loop(s.event);
        if (r < 0) {
                log_error_errno(r, "The event loop failed: %m");
                ret = 1;
        } else
                ret = r;

        (void) sd_notify(false, "STOPPING=1\nSTATUS=exiting");
        sidecar_done(&s);
        log_debug("Exiting with %d.", ret);
        return ret;
}
