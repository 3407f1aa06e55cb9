/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The remaining requests a hostile frontend can aim at device state:
 * features and protocol features never offered, config windows past the
 * config space, a status that does not fit a byte, in-band kicks without
 * the feature or for a queue that does not exist, a backend channel that
 * is not a socket, postcopy without PAGEFAULT. Each is refused by name and
 * the connection keeps being served.
 */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hostile.h"

int main(void) {
        int fds = hostile_count_fds();
        VhostUserMsg reply;
        Hostile h;

        hostile_setup_default(&h);

        hostile_step("SET_FEATURES with bit 63, never offered");
        {
                uint64_t f = h.dev.features | (UINT64_C(1) << 63);

                hostile_expect_refused(&h, VHOST_USER_SET_FEATURES, &f, 8, NULL, 0, "8000000000000000", "63");
        }
        hostile_step("SET_PROTOCOL_FEATURES with bit 62, never offered");
        {
                uint64_t f = h.dev.protocol_features | (UINT64_C(1) << 62);

                hostile_expect_refused(&h, VHOST_USER_SET_PROTOCOL_FEATURES, &f, 8, NULL, 0, "4000000000000000",
                                       "62");
        }
        hostile_step("the features in force are unchanged by those refusals");
        check(h.dev.features & (UINT64_C(1) << VHOST_USER_F_PROTOCOL_FEATURES));
        check(hostile_has_protocol(&h, VHOST_USER_PROTOCOL_F_REPLY_ACK));

        hostile_step("GET_CONFIG window 250+100, past the 256-byte config space");
        {
                VhostUserConfig c = { .offset = 250, .size = 100 };

                hostile_expect_refused(&h, VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 100, NULL, 0,
                                       "250", "fa");
        }
        hostile_step("SET_CONFIG at offset 0xffffffff");
        {
                VhostUserConfig c = { .offset = 0xffffffff, .size = 4 };

                hostile_expect_refused(&h, VHOST_USER_SET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 4, NULL, 0,
                                       "4294967295", "ffffffff");
        }
        hostile_step("SET_CONFIG whose size disagrees with the payload");
        {
                VhostUserConfig c = { .offset = 0, .size = 200 };

                hostile_expect_refused(&h, VHOST_USER_SET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 4, NULL, 0,
                                       "200", "c8");
        }
        hostile_step("SET_STATUS 0x1ff");
        {
                uint64_t s = 0x1ff;

                hostile_expect_refused(&h, VHOST_USER_SET_STATUS, &s, 8, NULL, 0, "1ff", "511");
        }
        hostile_step("in-band VRING_KICK without INBAND_NOTIFICATIONS");
        {
                struct vhost_vring_state st = { .index = 0 };

                hostile_expect_refused(&h, VHOST_USER_VRING_KICK, &st, sizeof(st), NULL, 0, "INBAND", "VRING_KICK");
        }
        hostile_step("in-band VRING_KICK for queue 300");
        {
                struct vhost_vring_state st = { .index = 300 };

                hostile_expect_refused(&h, VHOST_USER_VRING_KICK, &st, sizeof(st), NULL, 0, "300", "12c");
        }
        hostile_step("POSTCOPY_ADVISE without PAGEFAULT");
        {
                unsigned int observed = h.observed;

                hostile_request(&h, VHOST_USER_POSTCOPY_ADVISE, NULL, 0, NULL, 0, NULL);
                check_msg(h.observed > observed && h.last_result < 0, "POSTCOPY_ADVISE accepted without PAGEFAULT");
                printf("   refused POSTCOPY_ADVISE: %s\n", vu_last_error(&h.dev));
        }
        hostile_step("POSTCOPY_LISTEN without PAGEFAULT");
        hostile_expect_refused(&h, VHOST_USER_POSTCOPY_LISTEN, NULL, 0, NULL, 0, "PAGEFAULT", "POSTCOPY");
        hostile_step("SET_SLAVE_REQ_FD without BACKEND_REQ negotiated");
        {
                int fd = eventfd(0, EFD_CLOEXEC);

                check(fd >= 0);
                hostile_expect_refused(&h, VHOST_USER_SET_SLAVE_REQ_FD, NULL, 0, &fd, 1, "SLAVE", "BACKEND");
                close(fd);
        }
        hostile_step("a config change notice with no backend channel fails cleanly");
        check(!vu_config_change_msg(&h.dev));

        hostile_step("the connection is still served");
        hostile_expect_ok(&h, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0, &reply);
        check(reply.size == 8);
        {
                VuVirtqElement *e;

                hostile_desc(&h, HOSTILE_DESC_GPA, 0, HOSTILE_BUF_GPA, 64, 0, 0);
                hostile_avail(&h, 0, 0);
                e = hostile_pop(&h, 0);
                check_msg(e, "queue 0 stopped working: %s", vu_last_error(&h.dev));
                free(e);
        }
        hostile_free(&h);

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
