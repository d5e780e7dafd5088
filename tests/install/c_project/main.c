/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Publishes one frame and reads it back through the installed C header and library. */
#include <frameshm/frameshm.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  char feed[64];
  snprintf(feed, sizeof feed, "t-install-c-%ld", (long)getpid());
  frameshm_format* format = NULL;
  if (frameshm_format_create(FRAMESHM_PIXEL_FORMAT_GRAY8, 32, 32, 30, 1, &format) != FRAMESHM_OK) return 1;
  frameshm_producer_options producer_options;
  frameshm_producer_options_init(&producer_options);
  producer_options.feed = feed;
  producer_options.format = format;
  frameshm_producer* producer = NULL;
  if (frameshm_producer_create(&producer_options, &producer) != FRAMESHM_OK) {
    fprintf(stderr, "%s\n", frameshm_last_error());
    return 1;
  }
  frameshm_consumer_options consumer_options;
  frameshm_consumer_options_init(&consumer_options);
  consumer_options.feed = feed;
  frameshm_consumer* consumer = NULL;
  if (frameshm_consumer_open(&consumer_options, &consumer) != FRAMESHM_OK) {
    fprintf(stderr, "%s\n", frameshm_last_error());
    return 1;
  }
  unsigned char pixels[32 * 32];
  memset(pixels, 0x5a, sizeof pixels);
  int ok = frameshm_producer_write(producer, pixels, sizeof pixels, NULL, NULL) == FRAMESHM_OK;
  frameshm_frame* frame = NULL;
  ok = ok && frameshm_consumer_wait_frame(consumer, 1000000, &frame) == FRAMESHM_OK;
  if (ok) {
    size_t size = 0;
    const unsigned char* data = frameshm_frame_data(frame, &size);
    ok = size == sizeof pixels && data[0] == 0x5a && data[size - 1] == 0x5a && frameshm_frame_intact(frame);
    frameshm_frame_release(frame);
  }
  frameshm_consumer_destroy(consumer);
  frameshm_producer_destroy(producer);
  frameshm_format_destroy(format);
  if (ok) puts("ok");
  return ok ? 0 : 1;
}
