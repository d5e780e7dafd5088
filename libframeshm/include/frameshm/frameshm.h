/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* frameshm/frameshm.h — the C API of libframeshm (C11, also usable from C++).
 *
 * For C programs and for other languages through their C FFI (Rust, Go,
 * Python's ctypes...). It is a thin layer over the C++ API in
 * <frameshm/producer.hpp> and <frameshm/consumer.hpp>, with the same
 * semantics: a producer never waits for a consumer, a consumer reads frames in
 * place and confirms them with frameshm_frame_intact(), and always knows how
 * many frames it missed.
 *
 * Handles are opaque and owned by the caller: every _create or _open has its
 * _destroy, every frame its frameshm_frame_release. Every fallible call
 * returns a frameshm_status (FRAMESHM_OK is 0); on failure,
 * frameshm_last_error() gives this thread's message saying what is wrong and
 * what to do. No C++ exception ever crosses this API.
 *
 *   frameshm_consumer_options options;
 *   frameshm_consumer_options_init(&options);
 *   options.feed = "cam0";
 *   options.open_timeout_ms = 5000;
 *   frameshm_consumer* consumer;
 *   if (frameshm_consumer_open(&options, &consumer) != FRAMESHM_OK) {
 *     fprintf(stderr, "%s\n", frameshm_last_error());
 *     return 2;
 *   }
 *   frameshm_frame* frame;
 *   while (frameshm_consumer_wait_frame(consumer, 500000, &frame) == FRAMESHM_OK) {
 *     size_t size;
 *     const void* pixels = frameshm_frame_data(frame, &size);
 *     analyse(pixels, size);
 *     if (!frameshm_frame_intact(frame)) discard_analysis();
 *     frameshm_frame_release(frame);
 *   }
 *   frameshm_consumer_destroy(consumer);
 */
#ifndef FRAMESHM_FRAMESHM_H
#define FRAMESHM_FRAMESHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FRAMESHM_API __attribute__((visibility("default")))
#define FRAMESHM_NODISCARD __attribute__((warn_unused_result))
#else
#define FRAMESHM_API
#define FRAMESHM_NODISCARD
#endif

/* What a call returned. The values mirror frameshm::ErrorCode, shifted by one. */
typedef enum frameshm_status {
  FRAMESHM_OK = 0,
  FRAMESHM_INVALID_ARGUMENT,   /* a value passed in is out of range (or NULL) */
  FRAMESHM_INVALID_FEED_NAME,  /* the feed name is not 1..200 of [A-Za-z0-9._-] */
  FRAMESHM_UNSUPPORTED_FORMAT, /* pixel format, size or stride the transport cannot carry */
  FRAMESHM_NOT_FOUND,          /* no feed of that name exists (yet) */
  FRAMESHM_PERMISSION_DENIED,  /* the feed exists but this user may not open it */
  FRAMESHM_ALREADY_PRODUCED,   /* a live producer holds the feed */
  FRAMESHM_ABI_MISMATCH,       /* the feed was written by an incompatible frameshm */
  FRAMESHM_CORRUPT,            /* the feed failed validation */
  FRAMESHM_TIMEOUT,            /* nothing arrived within the deadline */
  FRAMESHM_NO_FRAME,           /* a non-blocking poll found no new frame */
  FRAMESHM_PRODUCER_GONE,      /* the producer died without ending the feed */
  FRAMESHM_FEED_ENDED,         /* the producer ended the feed cleanly */
  FRAMESHM_TAKEN_OVER,         /* another producer replaced this one */
  FRAMESHM_READERS_FULL,       /* every reader place of the feed is taken */
  FRAMESHM_INVALID_STATE,      /* the call does not fit the object's state */
  FRAMESHM_SYSTEM_ERROR,       /* an operating-system call failed */
  FRAMESHM_OUT_OF_MEMORY       /* the C layer could not allocate a handle */
} frameshm_status;

/* The message of the last failed call on this thread ("" if none). Valid
 * until the next frameshm call on this thread. */
FRAMESHM_API const char* frameshm_last_error(void);
/* The status's name, e.g. "not-found" (as frameshm::toString(ErrorCode)). */
FRAMESHM_API const char* frameshm_status_name(frameshm_status status);

/* ---- Formats ---------------------------------------------------------- */

/* The numeric values are those of frameshm::PixelFormat (the segment ABI). */
typedef enum frameshm_pixel_format {
  FRAMESHM_PIXEL_FORMAT_UNKNOWN = 0,
  FRAMESHM_PIXEL_FORMAT_GRAY8 = 1,
  FRAMESHM_PIXEL_FORMAT_RGB = 2,
  FRAMESHM_PIXEL_FORMAT_BGR = 3,
  FRAMESHM_PIXEL_FORMAT_RGBA = 4,
  FRAMESHM_PIXEL_FORMAT_BGRA = 5,
  FRAMESHM_PIXEL_FORMAT_BGRX = 6,
  FRAMESHM_PIXEL_FORMAT_I420 = 7,
  FRAMESHM_PIXEL_FORMAT_NV12 = 8,
  FRAMESHM_PIXEL_FORMAT_YUY2 = 9,
  FRAMESHM_PIXEL_FORMAT_UYVY = 10,
  /* Not a format: makes the type hold any int (as Vulkan's _MAX_ENUM does),
     so an unknown number passed in is refused with an error, in C and C++. */
  FRAMESHM_PIXEL_FORMAT_MAX_ENUM = 0x7FFFFFFF
} frameshm_pixel_format;

/* GStreamer's name of the format ("I420", "BGRx"...), or NULL if unknown. */
FRAMESHM_API const char* frameshm_pixel_format_name(frameshm_pixel_format format);
/* The format called `name` (case-insensitive), or FRAMESHM_PIXEL_FORMAT_UNKNOWN. */
FRAMESHM_API frameshm_pixel_format frameshm_pixel_format_from_name(const char* name);

/* A frame's layout: pixel format, size, and each plane's stride and offset. */
typedef struct frameshm_format frameshm_format;

/* GStreamer's default layout of a width x height frame; rate 0/1 is unknown.
 * Errors: FRAMESHM_UNSUPPORTED_FORMAT, FRAMESHM_INVALID_ARGUMENT. */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_format_create(frameshm_pixel_format pixel_format,
                                                                       uint32_t width, uint32_t height,
                                                                       uint32_t rate_num, uint32_t rate_den,
                                                                       frameshm_format** out);
/* Frees a format from frameshm_format_create (not one borrowed from a frame). */
FRAMESHM_API void frameshm_format_destroy(frameshm_format* format);
FRAMESHM_API frameshm_pixel_format frameshm_format_pixel_format(const frameshm_format* format);
FRAMESHM_API uint32_t frameshm_format_width(const frameshm_format* format);
FRAMESHM_API uint32_t frameshm_format_height(const frameshm_format* format);
FRAMESHM_API uint32_t frameshm_format_plane_count(const frameshm_format* format);
/* Bytes from one row of `plane` to the next; 0 for a plane the format lacks. */
FRAMESHM_API uint32_t frameshm_format_plane_stride(const frameshm_format* format, uint32_t plane);
/* Bytes from the frame's start to `plane`'s first row; 0 for a plane the format lacks. */
FRAMESHM_API uint64_t frameshm_format_plane_offset(const frameshm_format* format, uint32_t plane);
/* Rows of `plane` (chroma planes of I420/NV12 have half as many). */
FRAMESHM_API uint32_t frameshm_format_plane_height(const frameshm_format* format, uint32_t plane);
/* Bytes of one whole frame, all planes. */
FRAMESHM_API uint64_t frameshm_format_frame_size(const frameshm_format* format);
FRAMESHM_API void frameshm_format_rate(const frameshm_format* format, uint32_t* num, uint32_t* den);

/* ---- What travels with a frame ----------------------------------------- */

/* Times in nanoseconds, -1 for "not known"; flags as frameshm::FrameFlags. */
typedef struct frameshm_frame_meta {
  int64_t capture_ns;    /* CLOCK_MONOTONIC at capture; -1: the publish time is used */
  int64_t pts;           /* presentation time */
  int64_t duration;
  uint32_t flags;
  uint64_t payload_size; /* bytes used; 0: the whole frame */
} frameshm_frame_meta;

#define FRAMESHM_FLAG_KEY_FRAME (1u << 0)
#define FRAMESHM_FLAG_DISCONT (1u << 1)
#define FRAMESHM_FLAG_GAP (1u << 2)

/* Sets every field to its "not known" default. */
FRAMESHM_API void frameshm_frame_meta_init(frameshm_frame_meta* meta);

/* ---- The user's metadata (as frameshm::Metadata) ---------------------- */

/* Named, typed entries that travel with a frame, under the same sequence
 * counter as its pixels. The values are those of frameshm::MetaType. */
typedef enum frameshm_meta_type {
  FRAMESHM_META_BYTES = 0,
  FRAMESHM_META_STRING = 1, /* UTF-8, no terminator in the segment */
  FRAMESHM_META_INT = 2,    /* int64_t */
  FRAMESHM_META_DOUBLE = 3,
  FRAMESHM_META_TIMESTAMP = 4 /* ns and duration ns; the key names the clock, e.g. "timestamp/x-ptp" */
} frameshm_meta_type;

typedef struct frameshm_metadata frameshm_metadata;

/* An empty list of entries. Errors: INVALID_ARGUMENT, OUT_OF_MEMORY. */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_metadata_create(frameshm_metadata** out);
/* NULL is ignored. */
FRAMESHM_API void frameshm_metadata_destroy(frameshm_metadata* metadata);
/* Each set replaces an entry of the same key or appends one. Keys are 1..255
 * bytes. Errors: INVALID_ARGUMENT (bad key, NULL). */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_metadata_set_int(frameshm_metadata* m,
                                                                          const char* key, int64_t value);
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_metadata_set_double(frameshm_metadata* m,
                                                                             const char* key, double value);
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_metadata_set_string(frameshm_metadata* m,
                                                                             const char* key,
                                                                             const char* value);
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_metadata_set_bytes(frameshm_metadata* m,
                                                                            const char* key,
                                                                            const void* value, size_t size);
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_metadata_set_timestamp(frameshm_metadata* m,
                                                                                const char* key, int64_t ns,
                                                                                int64_t duration_ns);
/* Entries, in order. */
FRAMESHM_API size_t frameshm_metadata_count(const frameshm_metadata* m);
/* Entry `index`: its key (NUL-terminated), type, and value bytes as encoded
 * (host order). Pointers are borrowed: valid until `m` changes or is
 * destroyed. Any out pointer may be NULL. Errors: INVALID_ARGUMENT (index). */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_metadata_entry(const frameshm_metadata* m,
                                                                        size_t index, const char** key,
                                                                        frameshm_meta_type* type,
                                                                        const void** value, size_t* size);
/* The value of `key` as its type. Errors: NOT_FOUND (no such key),
 * INVALID_ARGUMENT (the entry is of another type). */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_metadata_get_int(const frameshm_metadata* m,
                                                                          const char* key, int64_t* value);
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_metadata_get_double(const frameshm_metadata* m,
                                                                             const char* key, double* value);
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_metadata_get_timestamp(const frameshm_metadata* m,
                                                                                const char* key, int64_t* ns,
                                                                                int64_t* duration_ns);

/* ---- Producer ---------------------------------------------------------- */

typedef struct frameshm_producer frameshm_producer;

typedef struct frameshm_producer_options {
  const char* feed;               /* required */
  const frameshm_format* format;  /* required; copied */
  uint32_t slots;                 /* frame slots, 2..64 (default 3) */
  uint32_t max_readers;           /* default 16 */
  uint32_t mode;                  /* permissions, default 0600; 0660 opens it to the group */
  bool replace;                   /* take over a feed a live producer holds (default false) */
  const char* caps;               /* GStreamer caps string, or NULL */
  uint32_t metadata_bytes;        /* user metadata per frame, 0..1 MiB (default 4096) */
} frameshm_producer_options;

/* Fills `options` with the defaults above (feed and format NULL). */
FRAMESHM_API void frameshm_producer_options_init(frameshm_producer_options* options);
/* Creates the feed. Errors: as frameshm::Producer::create (INVALID_FEED_NAME,
 * UNSUPPORTED_FORMAT, INVALID_ARGUMENT, ALREADY_PRODUCED, PERMISSION_DENIED,
 * SYSTEM_ERROR). */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_producer_create(const frameshm_producer_options* options,
                                                                         frameshm_producer** out);
/* Ends the feed (readers see it ended) and frees the producer. NULL is ignored. */
FRAMESHM_API void frameshm_producer_destroy(frameshm_producer* producer);
/* Copies `size` bytes (at most the frame size) into a slot and publishes them;
 * `meta` may be NULL; `number` (may be NULL) receives the frame number.
 * Errors: INVALID_ARGUMENT, INVALID_STATE, TAKEN_OVER. */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_producer_write(frameshm_producer* producer,
                                                                        const void* data, size_t size,
                                                                        const frameshm_frame_meta* meta,
                                                                        uint64_t* number);
/* A slot to fill in place: `data` receives its first byte, `size` the frame
 * size. One at a time; publish or abandon it. Errors: INVALID_STATE, TAKEN_OVER. */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_producer_acquire(frameshm_producer* producer, void** data,
                                                                          size_t* size);
/* Publishes the acquired slot. Errors: INVALID_STATE (none acquired),
 * INVALID_ARGUMENT (payload larger than the frame), TAKEN_OVER. */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_producer_publish(frameshm_producer* producer,
                                                                          const frameshm_frame_meta* meta,
                                                                          uint64_t* number);
/* Sets the acquired slot's metadata (replacing any set before). Errors:
 * INVALID_STATE (no slot acquired), INVALID_ARGUMENT (it does not fit the
 * feed's metadata_bytes: nothing is truncated). */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status
frameshm_producer_set_metadata(frameshm_producer* producer, const frameshm_metadata* metadata);
/* As frameshm_producer_write, with metadata (may be NULL). Errors: also as
 * set_metadata (then nothing is published). */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_producer_write_with_metadata(
    frameshm_producer* producer, const void* data, size_t size, const frameshm_frame_meta* meta,
    const frameshm_metadata* metadata, uint64_t* number);
/* Gives the acquired slot up unpublished (nothing if none is acquired). */
FRAMESHM_API void frameshm_producer_abandon(frameshm_producer* producer);
/* Starts a new generation with another format (copied) and caps (may be NULL). */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_producer_reconfigure(frameshm_producer* producer,
                                                                              const frameshm_format* format,
                                                                              const char* caps);
/* Marks the feed ended now; destroy still has to free the producer. */
FRAMESHM_API void frameshm_producer_end(frameshm_producer* producer);
/* The feed's format, borrowed: valid until reconfigure or destroy. */
FRAMESHM_API const frameshm_format* frameshm_producer_format(const frameshm_producer* producer);
FRAMESHM_API uint32_t frameshm_producer_reader_count(const frameshm_producer* producer);
FRAMESHM_API uint64_t frameshm_producer_frames_published(const frameshm_producer* producer);

/* ---- Consumer ---------------------------------------------------------- */

typedef struct frameshm_consumer frameshm_consumer;
typedef struct frameshm_frame frameshm_frame;

/* Which frame a reader gets next (as frameshm::Delivery). */
typedef enum frameshm_delivery {
  FRAMESHM_DELIVERY_LATEST = 0,    /* the newest frame; older ones are skipped */
  FRAMESHM_DELIVERY_SEQUENTIAL = 1 /* every frame in order while the ring holds it (a recorder) */
} frameshm_delivery;

typedef struct frameshm_consumer_options {
  const char* feed;         /* required */
  int64_t open_timeout_ms;  /* how long open waits for the feed; negative: forever (default 0) */
  int64_t spin_us;          /* spin this long around a frame's expected arrival (default 0) */
  bool pin;                 /* keep each frame's slot from the producer while it lives (default false) */
  frameshm_delivery delivery; /* default FRAMESHM_DELIVERY_LATEST */
} frameshm_consumer_options;

typedef struct frameshm_reader_stats {
  uint64_t frames_read;
  uint64_t frames_dropped;
  uint64_t frames_torn;
  uint64_t generations;
} frameshm_reader_stats;

FRAMESHM_API void frameshm_consumer_options_init(frameshm_consumer_options* options);
/* Opens the feed. Errors: as frameshm::Consumer::open (INVALID_FEED_NAME,
 * NOT_FOUND, TIMEOUT, PERMISSION_DENIED, ABI_MISMATCH, CORRUPT,
 * UNSUPPORTED_FORMAT, READERS_FULL, SYSTEM_ERROR). */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_consumer_open(const frameshm_consumer_options* options,
                                                                       frameshm_consumer** out);
/* Leaves the feed and frees the consumer. Frames it gave out stay valid until released. */
FRAMESHM_API void frameshm_consumer_destroy(frameshm_consumer* consumer);
/* The next frame newer than the last one, waiting up to `timeout_us`.
 * Errors: TIMEOUT; FEED_ENDED or PRODUCER_GONE once when the feed ends or its
 * producer dies (later calls wait for a new producer); CORRUPT. */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_consumer_wait_frame(frameshm_consumer* consumer,
                                                                             int64_t timeout_us,
                                                                             frameshm_frame** out);
/* The newest frame if it is newer than the last one, at once. Errors: NO_FRAME, and as wait. */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_consumer_try_frame(frameshm_consumer* consumer,
                                                                            frameshm_frame** out);
/* Waits like wait_frame, copies the frame into `buffer` (at least the frame
 * size) and confirms it intact; `meta`, `number` and `bytes` may be NULL.
 * Errors: INVALID_ARGUMENT (buffer too small), and as wait_frame. */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_consumer_read_into(frameshm_consumer* consumer,
                                                                            void* buffer, size_t size,
                                                                            int64_t timeout_us,
                                                                            frameshm_frame_meta* meta,
                                                                            uint64_t* number, uint64_t* bytes);
/* The feed's current format, borrowed: valid until the next wait, try or read call. */
FRAMESHM_API const frameshm_format* frameshm_consumer_format(const frameshm_consumer* consumer);
FRAMESHM_API void frameshm_consumer_stats(const frameshm_consumer* consumer, frameshm_reader_stats* stats);
FRAMESHM_API uint64_t frameshm_consumer_generation(const frameshm_consumer* consumer);

/* ---- Frames (read-only views into the feed) ---------------------------- */

/* The frame's bytes, read in place; `size` (may be NULL) receives their count. */
FRAMESHM_API const void* frameshm_frame_data(const frameshm_frame* frame, size_t* size);
/* First byte of `plane`, or NULL for a plane the format lacks. */
FRAMESHM_API const void* frameshm_frame_plane(const frameshm_frame* frame, uint32_t plane);
/* The frame's format, borrowed: valid while the frame is. */
FRAMESHM_API const frameshm_format* frameshm_frame_format(const frameshm_frame* frame);
FRAMESHM_API void frameshm_frame_meta_get(const frameshm_frame* frame, frameshm_frame_meta* meta);
FRAMESHM_API uint64_t frameshm_frame_number(const frameshm_frame* frame);
/* Frames this consumer missed just before this one. */
FRAMESHM_API uint64_t frameshm_frame_dropped_before(const frameshm_frame* frame);
FRAMESHM_API int64_t frameshm_frame_publish_ns(const frameshm_frame* frame);
/* True if the producer has not touched the slot since the frame was taken, so
 * everything read from it so far is this frame. */
FRAMESHM_API bool frameshm_frame_intact(frameshm_frame* frame);
/* A copy of the frame's metadata, validated; free it with
 * frameshm_metadata_destroy. Errors: CORRUPT (a length or entry its
 * producer cannot honestly have written), INVALID_ARGUMENT. */
FRAMESHM_API FRAMESHM_NODISCARD frameshm_status frameshm_frame_metadata(const frameshm_frame* frame,
                                                                        frameshm_metadata** out);
/* Releases the frame (and its pin). NULL is ignored. */
FRAMESHM_API void frameshm_frame_release(frameshm_frame* frame);

#ifdef __cplusplus
}
#endif

#endif /* FRAMESHM_FRAMESHM_H */
