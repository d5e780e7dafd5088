/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A C11 program on frameshm.h alone, for the C API tests: it produces or
 * consumes a feed whose every byte is known from the frame number, so the
 * C++ side (tests/c_api_test.cpp) can check what crossed.
 *
 *   c_feed produce FEED FORMAT WIDTH HEIGHT FRAMES   (waits for one reader first)
 *   c_feed consume FEED FRAMES                       (prints "frames=N bad=N torn=N dropped=N")
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <frameshm/frameshm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The byte at `offset` of frame `number`; tests/c_api_test.cpp has the same. */
static unsigned char pattern_byte(uint64_t number, size_t offset) {
  return (unsigned char)((number * 31u + offset * 7u + (offset >> 8)) & 0xffu);
}

static void fill(unsigned char* data, size_t size, uint64_t number) {
  for (size_t i = 0; i < size; ++i) data[i] = pattern_byte(number, i);
}

static size_t mismatches(const unsigned char* data, size_t size, uint64_t number) {
  size_t bad = 0;
  for (size_t i = 0; i < size; ++i) bad += data[i] != pattern_byte(number, i);
  return bad;
}

static int fail(const char* what, frameshm_status status) {
  fprintf(stderr, "c_feed: %s: %s (%s)\n", what, frameshm_last_error(), frameshm_status_name(status));
  return 1;
}

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

static int produce(const char* feed, const char* format_name, uint32_t width, uint32_t height, uint64_t frames) {
  frameshm_pixel_format pixel_format = frameshm_pixel_format_from_name(format_name);
  frameshm_format* format = NULL;
  frameshm_status status = frameshm_format_create(pixel_format, width, height, 60, 1, &format);
  if (status != FRAMESHM_OK) return fail("format", status);

  frameshm_producer_options options;
  frameshm_producer_options_init(&options);
  options.feed = feed;
  options.format = format;
  options.slots = 4;
  frameshm_producer* producer = NULL;
  status = frameshm_producer_create(&options, &producer);
  frameshm_format_destroy(format); /* copied by the producer */
  if (status != FRAMESHM_OK) return fail("create", status);

  for (int i = 0; i < 500 && frameshm_producer_reader_count(producer) == 0; ++i) sleep_ms(10);
  size_t frame_size = (size_t)frameshm_format_frame_size(frameshm_producer_format(producer));
  unsigned char* copy = malloc(frame_size);
  int result = copy == NULL;
  for (uint64_t n = 1; n <= frames && result == 0; ++n) {
    frameshm_frame_meta meta;
    frameshm_frame_meta_init(&meta);
    meta.pts = (int64_t)n * 1000;
    uint64_t number = 0;
    if (n % 2 == 0) { /* even frames in place, odd ones copied in */
      void* data = NULL;
      size_t size = 0;
      status = frameshm_producer_acquire(producer, &data, &size);
      if (status != FRAMESHM_OK) { result = fail("acquire", status); break; }
      fill(data, size, n);
      status = frameshm_producer_publish(producer, &meta, &number);
    } else {
      fill(copy, frame_size, n);
      status = frameshm_producer_write(producer, copy, frame_size, &meta, &number);
    }
    if (status != FRAMESHM_OK) { result = fail("publish", status); break; }
    if (number != n) { fprintf(stderr, "c_feed: published frame %llu as %llu\n", (unsigned long long)n, (unsigned long long)number); result = 1; }
    sleep_ms(2);
  }
  free(copy);
  frameshm_producer_destroy(producer);
  return result;
}

static int consume(const char* feed, uint64_t frames) {
  frameshm_consumer_options options;
  frameshm_consumer_options_init(&options);
  options.feed = feed;
  options.open_timeout_ms = 5000;
  frameshm_consumer* consumer = NULL;
  frameshm_status status = frameshm_consumer_open(&options, &consumer);
  if (status != FRAMESHM_OK) return fail("open", status);

  size_t frame_size = (size_t)frameshm_format_frame_size(frameshm_consumer_format(consumer));
  unsigned char* copy = malloc(frame_size);
  uint64_t got = 0, bad = 0, torn = 0, last = 0;
  while (copy != NULL && last < frames) {
    if (got % 3 == 2) { /* every third frame copied out and confirmed by the library */
      uint64_t number = 0, bytes = 0;
      frameshm_frame_meta meta;
      status = frameshm_consumer_read_into(consumer, copy, frame_size, 2000000, &meta, &number, &bytes);
      if (status != FRAMESHM_OK) break;
      bad += mismatches(copy, (size_t)bytes, number) != 0 || meta.pts != (int64_t)number * 1000;
      last = number;
    } else {
      frameshm_frame* frame = NULL;
      status = frameshm_consumer_wait_frame(consumer, 2000000, &frame);
      if (status != FRAMESHM_OK) break;
      size_t size = 0;
      const unsigned char* data = frameshm_frame_data(frame, &size);
      frameshm_frame_meta meta;
      frameshm_frame_meta_get(frame, &meta);
      size_t wrong = mismatches(data, size, frameshm_frame_number(frame));
      if (!frameshm_frame_intact(frame)) {
        ++torn;
      } else {
        bad += wrong != 0 || meta.pts != (int64_t)frameshm_frame_number(frame) * 1000;
      }
      last = frameshm_frame_number(frame);
      frameshm_frame_release(frame);
    }
    ++got;
  }
  frameshm_reader_stats stats;
  frameshm_consumer_stats(consumer, &stats);
  printf("frames=%llu bad=%llu torn=%llu dropped=%llu\n", (unsigned long long)got, (unsigned long long)bad,
         (unsigned long long)torn, (unsigned long long)stats.frames_dropped);
  free(copy);
  frameshm_consumer_destroy(consumer);
  if (status != FRAMESHM_OK && status != FRAMESHM_FEED_ENDED) return fail("wait", status);
  return bad == 0 && got > 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc == 7 && strcmp(argv[1], "produce") == 0) {
    return produce(argv[2], argv[3], (uint32_t)strtoul(argv[4], NULL, 10), (uint32_t)strtoul(argv[5], NULL, 10),
                   strtoull(argv[6], NULL, 10));
  }
  if (argc == 4 && strcmp(argv[1], "consume") == 0) return consume(argv[2], strtoull(argv[3], NULL, 10));
  fprintf(stderr, "usage: c_feed produce FEED FORMAT WIDTH HEIGHT FRAMES | c_feed consume FEED FRAMES\n");
  return 2;
}
