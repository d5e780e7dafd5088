// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/producer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "atomics.hpp"
#include "frameshm/clock.hpp"
#include "handshake.hpp"
#include "layout.hpp"
#include "memory.hpp"
#include "planes.hpp"
#include "rate_meter.hpp"
#include "text.hpp"

namespace frameshm {
namespace detail {

namespace {

constexpr int kCreateAttempts = 16;
// A connection that has not said hello within this long is dropped.
constexpr std::int64_t kHelloTimeoutNs = 2'000'000'000;
// Connections that have not said hello yet, at most (beyond: closed at once).
constexpr std::size_t kMaxPending = 64;
constexpr std::int64_t kReplaceTimeoutNs = 2'000'000'000;

std::uint64_t slotMask(std::uint32_t slots) noexcept {
  return slots >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << slots) - 1;
}

// A process that holds a Producer may fork (a program that spawns helpers, a
// test that forks readers): a child gets only the forking thread, and every
// lock another thread held at that instant stays locked in it for ever. The
// C library takes care of its own locks, but not every allocator does (GCC
// 12's AddressSanitizer deadlocked forked readers in 5 of 24 runs this way).
// So socket threads do their work, allocations included, holding this lock,
// and fork() takes it first: a child is only ever forked while every socket
// thread of the process sits in poll().
std::mutex& forkGuard() noexcept {
  static std::mutex guard;
  return guard;
}

void installForkGuard() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    (void)pthread_atfork([] { forkGuard().lock(); }, [] { forkGuard().unlock(); },
                         [] { forkGuard().unlock(); });
  });
}

}  // namespace

// One connection to the feed's socket, owned by the socket thread.
struct Connection {
  Fd socket;
  std::int64_t helloDeadlineNs = 0;
  std::vector<std::byte> hello;  // bytes of the Hello so far
  bool reader = false;           // admitted: `control` is its control memory
  bool pins = false;
  bool sequential = false;  // takes every frame in order: the ring is kept whole
  std::uint32_t pid = 0;
  ControlMemory control;
  layout::ReaderControl* ctl = nullptr;
  Fd notify;  // write end of the pipe the reader polls, if it asked for one
};

// What the publishing thread needs of an admitted reader.
struct ActiveReader {
  layout::ReaderControl* ctl;
  bool pins;
  bool sequential;
  std::uint32_t pid;
  int notify;  // -1, or a non-blocking pipe only we write: a full one is readable already
};

struct ProducerState {
  ProducerOptions options;
  FrameMemory memory;
  layout::Geometry geometry{};
  layout::SegmentHeader* header = nullptr;
  layout::SlotHeader* slots = nullptr;
  std::byte* payload = nullptr;
  std::uint64_t generation = 0;
  // The producer is the only writer of sequences and frame numbers, so it
  // keeps its own copies instead of reading them back from shared memory.
  std::vector<std::uint64_t> sequence;
  std::vector<std::uint64_t> writtenFrame;  // frame number last in each slot, 0 = never
  std::uint64_t nextFrame = 1;
  bool slotOut = false;
  bool ended = false;
  ProducerStats stats{};
  // POSIX only: set once the file was found shorter than it should be
  // (another process of our user shrank it): from then on nothing in it is
  // touched, since pages past the end raise SIGBUS. Sealed memfds and SysV
  // segments cannot shrink.
  bool truncated = false;
  RateMeter rate;

  // The socket and its thread.
  Fd listener;
  Fd stopEvent;
  std::thread server;
  std::atomic<bool> serving{false};     // the socket thread has started (forkGuard below)
  std::vector<Connection> connections;  // socket thread only
  std::mutex readersMutex;              // guards `active`
  std::vector<ActiveReader> active;
  std::atomic<std::uint32_t> activeCount{0};
  std::atomic<std::uint64_t> reclaimed{0};
  std::atomic<bool> takenOver{false};

  ProducerState() = default;
  ProducerState(const ProducerState&) = delete;
  ProducerState& operator=(const ProducerState&) = delete;
  ~ProducerState() { stopServing(); }

  std::uint64_t pinnedMaskLocked() const noexcept {
    std::uint64_t mask = 0;
    for (const auto& r : active)
      if (r.pins) mask |= loadSeqCst(r.ctl->pinnedMask);
    return mask & slotMask(options.slots);  // a reader's bits past the slot count mean nothing
  }

  // Whether the whole memory is still there: asked of the kernel for a POSIX
  // file only, which a process of our user can truncate.
  bool usable() noexcept {
    if (!truncated && memory.backend == Backend::Posix)
      truncated = shorterThan(memory.fd.get(), geometry.segmentSize);
    return !truncated;
  }

  // The feed cannot go on in a truncated file: end it for a restart.
  std::unexpected<Error> failTruncated() {
    ended = true;
    stopServing();
    return fail(ErrorCode::Corrupt, "the frame memory of feed " + quoted(options.feed) +
                                        " was truncated by another process; the feed has ended");
  }

  std::byte* slotPayload(std::uint32_t index) const noexcept {
    return payload + std::uint64_t{index} * geometry.slotStride;
  }
  std::byte* slotMetadata(std::uint32_t index) const noexcept {
    return memory.mapping.data() + geometry.metadataOffset + std::uint64_t{index} * geometry.metadataStride;
  }

  bool supersededByOther() const noexcept { return takenOver.load(std::memory_order_acquire); }

  // One wake for every reader: bump the word, and make the system call only
  // when some reader said it waits (Dekker with the reader's block(): it sets
  // `waiting`, then reads the word and the newest slot).
  void wakeReaders() noexcept {
    __atomic_add_fetch(&header->wakeWord, 1u, __ATOMIC_SEQ_CST);
    bool someoneWaits = false;
    {
      std::lock_guard lock(readersMutex);
      for (const auto& r : active) {
        if (!someoneWaits && loadSeqCst(r.ctl->waiting) != 0) someoneWaits = true;
        // Only the readers that asked for a pollable descriptor cost a write.
        if (r.notify >= 0) (void)!::write(r.notify, "", 1);
      }
    }
    if (someoneWaits) futexWakeAll(&header->wakeWord);
  }

  void updateRate(std::int64_t now) noexcept {
    if (rate.count(now)) storeRelaxed(header->rateMilliHz, static_cast<std::uint64_t>(rate.hz() * 1000.0));
  }

  // Which of two slots to write first: the smaller rank. With a sequential
  // reader attached, the oldest frame goes first (the ring keeps as many
  // frames as it can). Without one, the slot of the newest frame outside the
  // newest kKeepNewest goes first: the same few slots come round again and
  // stay in the cache (frameshmsink's 1080p copy: 94-128 us into the slot
  // written 2 frames before, 162-187 us into the one written 6 before, and
  // 0.64-1.03x into the one written 3 before, this VM's memory drifting),
  // while a reader still has two frame intervals to copy the newest frame
  // before it is overwritten, as with triple buffering. Slots holding the
  // protected frames, and the rest, follow oldest first.
  static constexpr std::uint64_t kKeepNewest = 2;
  std::pair<int, std::uint64_t> slotRank(std::uint32_t i, bool ring) const noexcept {
    const std::uint64_t frame = writtenFrame[i];  // 0: never written, or abandoned
    if (ring) return {0, frame};
    const std::uint64_t newest = nextFrame - 1;
    if (frame != 0 && frame + kKeepNewest <= newest) return {0, ~frame};
    return {1, frame};
  }

  // Picks the slot to write: never the newest frame, never a pinned slot
  // unless every other slot is pinned (the producer does not wait); in the
  // order of slotRank. Leaves the slot's sequence odd.
  std::uint32_t chooseSlot() noexcept {
    std::lock_guard lock(readersMutex);
    const std::uint32_t count = options.slots;
    const std::uint32_t latest = loadRelaxed(header->latestSlot);  // index + 1; only we write it
    std::uint64_t tried = latest ? (std::uint64_t{1} << (latest - 1)) : 0;
    const bool ring = std::ranges::any_of(active, &ActiveReader::sequential);
    for (;;) {
      // The first slot in rank order not tried yet.
      std::uint32_t best = count;
      for (std::uint32_t i = 0; i < count; ++i) {
        if ((tried >> i) & 1) continue;
        if (best == count || slotRank(i, ring) < slotRank(best, ring)) best = i;
      }
      if (best == count) break;
      tried |= std::uint64_t{1} << best;
      if ((pinnedMaskLocked() >> best) & 1) continue;
      // Dekker handshake with a reader pinning this slot: we make the sequence
      // odd, then look at the pins; a reader sets its pin, then looks at the
      // sequence. One of us sees the other. If a pin appeared, put the
      // sequence back untouched (no byte was written) and try another slot.
      storeSeqCst(slots[best].sequence, sequence[best] + 1);
      if ((pinnedMaskLocked() >> best) & 1) {
        storeSeqCst(slots[best].sequence, sequence[best]);
        continue;
      }
      sequence[best] += 1;
      return best;
    }
    // Every slot but the newest is pinned: overwrite the oldest of them. Its
    // reader sees the sequence change and does not accept the frame.
    std::uint32_t oldest = count;
    for (std::uint32_t i = 0; i < count; ++i) {
      if (latest && i == latest - 1) continue;
      if (oldest == count || writtenFrame[i] < writtenFrame[oldest]) oldest = i;
    }
    ++stats.pinnedOverwrites;
    sequence[oldest] += 1;
    storeSeqCst(slots[oldest].sequence, sequence[oldest]);
    return oldest;
  }

  void markEnded(FeedState how) noexcept {
    if (!usable()) return;
    std::uint32_t live = static_cast<std::uint32_t>(FeedState::Live);
    (void)compareExchange(header->state, live, static_cast<std::uint32_t>(how));
    wakeReaders();
    futexWakeAll(&header->wakeWord);
  }

  // Ends the socket thread and closes every connection: readers see a
  // hangup (after the state they must read first, if any).
  void stopServing() noexcept {
    if (server.joinable()) {
      const std::uint64_t one = 1;
      (void)!::write(stopEvent.get(), &one, sizeof one);
      server.join();
    }
    closeListener();
    connections.clear();
    std::lock_guard lock(readersMutex);
    active.clear();
    activeCount = 0;
  }

  void closeListener() noexcept {
    if (!listener) return;
    unlinkFeedSocket(options.feed, options.socketDir, listener.get());
    listener.reset();
  }

  static Result<std::unique_ptr<ProducerState>> open(ProducerOptions options);
  static Result<void> takeOver(const ProducerOptions& options);
  Result<void> initialise();
  void serve() noexcept;
  void acceptAll() noexcept;
  // False when the connection is to be closed.
  bool onReadable(Connection& c) noexcept;
  bool onHello(Connection& c, const Hello& hello) noexcept;
  bool admitted(const ucred& cred, int socket) const;
  void forget(Connection& c) noexcept;
};

bool ProducerState::admitted(const ucred& cred, int socket) const {
  if (cred.uid == geteuid() || cred.uid == 0) return true;
  if (std::ranges::find(options.allowedUids, cred.uid) != options.allowedUids.end()) return true;
  if (options.allowedGids.empty()) return false;
  if (std::ranges::find(options.allowedGids, cred.gid) != options.allowedGids.end()) return true;
  for (gid_t g : peerGroups(socket))
    if (std::ranges::find(options.allowedGids, g) != options.allowedGids.end()) return true;
  return false;
}

void ProducerState::forget(Connection& c) noexcept {
  if (!c.reader) return;
  {
    std::lock_guard lock(readersMutex);
    std::erase_if(active, [&](const ActiveReader& r) { return r.ctl == c.ctl; });
    activeCount = static_cast<std::uint32_t>(active.size());
  }
  c.reader = false;
  reclaimed.fetch_add(1, std::memory_order_relaxed);
}

bool ProducerState::onHello(Connection& c, const Hello& hello) noexcept {
  WelcomeHead head;
  head.backend = static_cast<std::uint32_t>(memory.backend);
  head.shmid = memory.shmid;
  head.memorySize = geometry.segmentSize;
  head.generation = generation;
  head.producerPid = static_cast<std::uint32_t>(getpid());
  auto answer = [&](Status status, std::span<const ReaderRecord> records, std::span<const int> fds) {
    head.status = static_cast<std::uint16_t>(status);
    head.recordCount = static_cast<std::uint32_t>(records.size());
    return sendMessage(c.socket.get(), encode(head, records), fds).has_value();
  };
  auto cred = peerCredentials(c.socket.get());
  if (!cred || !admitted(*cred, c.socket.get())) {
    (void)answer(Status::Denied, {}, {});
    return false;
  }
  const int memoryFd = memory.readerFd.get();
  switch (static_cast<Request>(hello.request)) {
    case Request::Replace: {
      if (cred->uid != geteuid() && cred->uid != 0) {
        (void)answer(Status::Denied, {}, {});
        return false;
      }
      // Superseded first, then the hangups: readers read the state before
      // they take a hangup for a death.
      takenOver.store(true, std::memory_order_release);
      // Not markEnded(): that is the publishing thread's (its truncation flag).
      if (memory.backend != Backend::Posix || !shorterThan(memory.fd.get(), geometry.segmentSize)) {
        std::uint32_t live = static_cast<std::uint32_t>(FeedState::Live);
        (void)compareExchange(header->state, live, static_cast<std::uint32_t>(FeedState::Superseded));
        wakeReaders();
        futexWakeAll(&header->wakeWord);
      }
      closeListener();
      (void)answer(Status::Ok, {}, {});
      return false;
    }
    case Request::Inspect: {
      std::vector<ReaderRecord> records;
      {
        std::lock_guard lock(readersMutex);
        for (const auto& r : active)
          records.push_back({r.pid, 0, loadRelaxed(r.ctl->framesRead), loadRelaxed(r.ctl->framesDropped),
                             loadRelaxed(r.ctl->framesTorn)});
      }
      const int fds[] = {memoryFd};
      (void)answer(Status::Ok, records, memory.backend == Backend::SysV ? std::span<const int>{} : fds);
      return false;
    }
    case Request::Read:
      break;
  }
  if (activeCount.load() >= options.maxReaders) {
    (void)answer(Status::Full, {}, {});
    return false;
  }
  auto control = createControl();
  if (!control) return false;
  c.control = std::move(*control);
  c.ctl = reinterpret_cast<layout::ReaderControl*>(c.control.mapping.data());
  c.pins = (hello.flags & kHelloPin) != 0;
  c.sequential = (hello.flags & kHelloSequential) != 0;
  c.pid = hello.pid;
  Fd notifyRead;
  if ((hello.flags & kHelloNotify) != 0) {
    int ends[2];
    if (pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) return false;
    notifyRead = Fd(ends[0]);
    c.notify = Fd(ends[1]);
  }
  std::vector<int> fds;
  if (memory.backend != Backend::SysV) fds.push_back(memoryFd);
  fds.push_back(c.control.fd.get());
  if (notifyRead) fds.push_back(notifyRead.get());
  {
    std::lock_guard lock(readersMutex);
    active.push_back({c.ctl, c.pins, c.sequential, c.pid, c.notify ? c.notify.get() : -1});
    activeCount = static_cast<std::uint32_t>(active.size());
  }
  c.reader = true;
  const bool sent = answer(Status::Ok, {}, fds);
  c.control.fd.reset();  // mapped on both sides; the descriptor is no longer needed
  if (!sent) forget(c);
  return sent;
}

bool ProducerState::onReadable(Connection& c) noexcept {
  std::byte buffer[4096];
  const std::size_t want = c.reader ? sizeof buffer : sizeof(Hello) - c.hello.size();
  const ssize_t n = recv(c.socket.get(), buffer, want, MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  if (n == 0) return false;   // hangup: a reader that died or left
  if (c.reader) return true;  // a reader has nothing more to say: ignored
  const std::size_t had = c.hello.size();
  c.hello.resize(had + static_cast<std::size_t>(n));
  std::memcpy(c.hello.data() + had, buffer, static_cast<std::size_t>(n));
  if (c.hello.size() < sizeof(Hello)) return true;
  auto hello = parseHello(c.hello);
  if (!hello) {
    WelcomeHead head;
    head.status = static_cast<std::uint16_t>(Status::BadRequest);
    (void)sendMessage(c.socket.get(), encode(head, {}), {});
    return false;
  }
  return onHello(c, *hello);
}

void ProducerState::acceptAll() noexcept {
  for (;;) {
    const int fd = accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    std::size_t pending = 0;
    for (const auto& c : connections) pending += c.reader ? 0 : 1;
    if (pending >= kMaxPending) {
      close(fd);
      continue;
    }
    Connection c;
    c.socket = Fd(fd);
    c.helloDeadlineNs = monotonicNs() + kHelloTimeoutNs;
    connections.push_back(std::move(c));
  }
}

void ProducerState::serve() noexcept {
  std::vector<pollfd> fds;
  std::unique_lock work(forkGuard());  // released only while waiting in poll()
  serving.store(true);
  serving.notify_one();
  for (;;) {
    fds.clear();
    fds.push_back({stopEvent.get(), POLLIN, 0});
    fds.push_back({listener ? listener.get() : -1, POLLIN, 0});
    std::int64_t nextDeadline = monotonicNs() + 1'000'000'000;
    for (const auto& c : connections) {
      fds.push_back({c.socket.get(), POLLIN, 0});
      if (!c.reader) nextDeadline = std::min(nextDeadline, c.helloDeadlineNs);
    }
    const std::int64_t waitMs = std::max<std::int64_t>((nextDeadline - monotonicNs()) / 1'000'000 + 1, 0);
    work.unlock();
    const int polled = poll(fds.data(), fds.size(), static_cast<int>(waitMs));
    const int pollError = errno;
    work.lock();
    if (polled < 0 && pollError != EINTR) return;
    if (fds[0].revents) return;
    // Connections first (their indices match `fds`), then new ones.
    const std::int64_t now = monotonicNs();
    std::vector<bool> keep(connections.size(), true);
    for (std::size_t i = 0; i < connections.size(); ++i) {
      Connection& c = connections[i];
      const short events = fds[i + 2].revents;
      if (events & (POLLIN | POLLHUP | POLLERR)) keep[i] = onReadable(c) && !(events & POLLERR);
      if (keep[i] && (events & POLLHUP) && !(events & POLLIN)) keep[i] = false;
      if (keep[i] && !c.reader && now >= c.helloDeadlineNs) keep[i] = false;
      if (!keep[i]) forget(c);
    }
    if (takenOver.load()) {
      // Replaced: the readers follow the new producer; hang up on them now.
      for (auto& c : connections) forget(c);
      connections.clear();
      return;
    }
    std::size_t i = 0;
    std::erase_if(connections, [&](const Connection&) { return !keep[i++]; });
    if (listener && (fds[1].revents & POLLIN)) acceptAll();
  }
}

// A live producer serves the name: ask it to hand the feed over (same user only).
Result<void> ProducerState::takeOver(const ProducerOptions& options) {
  auto connection = connectToFeed(options.feed, options.socketDir);
  if (!connection) {
    if (connection.error().code == ErrorCode::NotFound) return {};  // gone meanwhile: try again
    return std::unexpected(connection.error());
  }
  auto cred = peerCredentials(connection->get());
  if (!cred) return std::unexpected(cred.error());
  if (cred->uid != geteuid() && geteuid() != 0)
    return fail(ErrorCode::AlreadyProduced,
                "feed " + quoted(options.feed) + " is already served by uid " + std::to_string(cred->uid) +
                    " (pid " + std::to_string(cred->pid) + "), another user, on " +
                    feedAddress(options.feed, options.socketDir) + "; choose another feed name");
  if (!options.replace)
    return fail(ErrorCode::AlreadyProduced,
                "feed " + quoted(options.feed) + " is already produced by pid " + std::to_string(cred->pid) +
                    " (stop it, or take the feed over with --replace / replace=true)");
  Hello hello;
  hello.request = static_cast<std::uint16_t>(Request::Replace);
  hello.pid = static_cast<std::uint32_t>(getpid());
  if (auto sent = sendMessage(connection->get(), encode(hello), {}); !sent) return {};
  auto answer =
      receiveWelcome(connection->get(), Request::Replace, monotonicNs() + kReplaceTimeoutNs, options.feed);
  if (answer && answer->welcome.status != Status::Ok)
    return fail(ErrorCode::AlreadyProduced, "the producer of feed " + quoted(options.feed) + " (pid " +
                                                std::to_string(cred->pid) + ") refused to hand it over");
  return {};
}

Result<std::unique_ptr<ProducerState>> ProducerState::open(ProducerOptions options) {
  if (auto ok = validateFeedName(options.feed); !ok) return std::unexpected(ok.error());
  if (auto ok = validateFormat(options.format); !ok) return std::unexpected(ok.error());
  if (options.caps.size() >= layout::kCapsCapacity)
    return fail(ErrorCode::InvalidArgument, "caps string of " + std::to_string(options.caps.size()) +
                                                " bytes is too long (at most 4095)");
  if (options.caps.find('\0') != std::string::npos)
    return fail(ErrorCode::InvalidArgument, "caps string contains a NUL byte");
  if ((options.mode & ~mode_t{0777}) != 0 || (options.mode & 0600) != 0600)
    return fail(ErrorCode::InvalidArgument, "mode must be within 0777 and include 0600 (owner read-write)");
  if (options.backend != Backend::Memfd && options.backend != Backend::Posix &&
      options.backend != Backend::SysV)
    return fail(ErrorCode::InvalidArgument, "unknown backend");
  auto geometry = layout::computeGeometry(options.slots, options.maxReaders, options.format.frameSize,
                                          options.metadataBytes);
  if (!geometry) return std::unexpected(geometry.error());

  // The socket is the feed's name: whoever is bound to it owns the feed.
  Fd listener;
  for (int attempt = 0; attempt < kCreateAttempts && !listener; ++attempt) {
    auto bound = listenOnFeed(options.feed, options.socketDir, options.mode);
    if (bound) {
      listener = std::move(*bound);
      break;
    }
    if (bound.error().code != ErrorCode::AlreadyProduced) return std::unexpected(bound.error());
    if (auto ok = takeOver(options); !ok) return std::unexpected(ok.error());
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt));
  }
  if (!listener)
    return fail(ErrorCode::AlreadyProduced,
                "feed " + quoted(options.feed) + " keeps being re-created by another process; giving up");

  auto state = std::make_unique<ProducerState>();
  state->options = std::move(options);
  state->geometry = *geometry;
  state->listener = std::move(listener);
  if (auto ok = state->initialise(); !ok) return std::unexpected(ok.error());
  state->stopEvent = Fd(eventfd(0, EFD_CLOEXEC));
  if (!state->stopEvent) return failErrno("cannot create an eventfd", errno);
  installForkGuard();
  state->server = std::thread([s = state.get()] { s->serve(); });
  // A thread's start-up allocates too: the Producer is returned once its
  // socket thread is past it and under forkGuard.
  state->serving.wait(false);
  return state;
}

Result<void> ProducerState::initialise() {
  auto created = createFrameMemory(options.backend, options.feed, geometry.segmentSize, options.mode);
  if (!created) return std::unexpected(created.error());
  memory = std::move(*created);
  if (!options.allowedGids.empty())
    if (auto ok = openToGroup(memory, options.allowedGids.front()); !ok) return ok;
  std::byte* base = memory.mapping.data();
  header = reinterpret_cast<layout::SegmentHeader*>(base);
  slots = reinterpret_cast<layout::SlotHeader*>(base + geometry.slotTableOffset);
  payload = base + geometry.payloadOffset;
  generation = randomNonZero();

  header->abiVersion = layout::kAbiVersion;
  header->headerSize = sizeof(layout::SegmentHeader);
  header->segmentSize = geometry.segmentSize;
  header->generation = generation;
  header->createdNs = realtimeNs();
  header->producerPid = static_cast<std::uint32_t>(getpid());
  header->slotCount = options.slots;
  header->readerCapacity = options.maxReaders;
  header->slotHeaderSize = sizeof(layout::SlotHeader);
  header->controlSize = sizeof(layout::ReaderControl);
  header->backend = static_cast<std::uint32_t>(options.backend);
  header->slotTableOffset = geometry.slotTableOffset;
  header->payloadOffset = geometry.payloadOffset;
  header->slotStride = geometry.slotStride;
  header->metadataCapacity = geometry.metadataCapacity;
  header->metadataOffset = geometry.metadataOffset;
  header->metadataStride = geometry.metadataStride;
  header->format = layout::toBlock(options.format);
  header->capsLength = static_cast<std::uint32_t>(options.caps.size());
  std::memcpy(header->caps, options.caps.data(), options.caps.size());
  header->caps[options.caps.size()] = '\0';
  header->state = static_cast<std::uint32_t>(FeedState::Live);
  // The magic goes last: a reader that sees it sees everything above.
  storeRelease(header->magic, layout::kMagic);
  if (auto ok = sealFrameMemory(memory); !ok) return ok;

  sequence.assign(options.slots, 0);
  writtenFrame.assign(options.slots, 0);
  return {};
}

void abandonSlot(ProducerState& state, std::uint32_t index) noexcept {
  state.slotOut = false;
  if (!state.usable()) return;
  // The bytes changed but the frame was never published: move the sequence on
  // so that a stale view of the slot is seen as overwritten, and clear the
  // frame number, so that a reader taking frames in order does not take the
  // slot's old number for a frame it still holds.
  storeRelaxed(state.slots[index].frameNumber, std::uint64_t{0});
  state.sequence[index] += 1;
  storeRelease(state.slots[index].sequence, state.sequence[index]);
  state.writtenFrame[index] = 0;
}

}  // namespace detail

using detail::ProducerState;

WriteSlot::WriteSlot(WriteSlot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      data_(other.data_),
      format_(other.format_),
      index_(other.index_),
      frameNumber_(other.frameNumber_),
      metadata_(other.metadata_),
      metadataSize_(other.metadataSize_) {}

WriteSlot& WriteSlot::operator=(WriteSlot&& other) noexcept {
  if (this != &other) {
    if (owner_) detail::abandonSlot(*owner_, index_);
    owner_ = std::exchange(other.owner_, nullptr);
    data_ = other.data_;
    format_ = other.format_;
    index_ = other.index_;
    frameNumber_ = other.frameNumber_;
    metadata_ = other.metadata_;
    metadataSize_ = other.metadataSize_;
  }
  return *this;
}

WriteSlot::~WriteSlot() {
  if (owner_) detail::abandonSlot(*owner_, index_);
}

std::byte* WriteSlot::plane(std::uint32_t plane) const noexcept {
  return detail::planeStart(data_.data(), format_, plane);
}

Result<void> WriteSlot::setMetadata(const Metadata& metadata) {
  if (!owner_) return fail(ErrorCode::InvalidArgument, "the slot is empty (published or moved from)");
  auto written = metadata.encode(metadata_);
  if (!written) return std::unexpected(written.error());
  metadataSize_ = static_cast<std::uint32_t>(*written);
  return {};
}

Producer::Producer(std::unique_ptr<ProducerState> state) noexcept : state_(std::move(state)) {}
Producer::Producer(Producer&& other) noexcept = default;
Producer& Producer::operator=(Producer&& other) noexcept {
  if (this != &other) {
    end();
    state_ = std::move(other.state_);
  }
  return *this;
}
Producer::~Producer() {
  end();
}

Result<Producer> Producer::create(ProducerOptions options) {
  auto state = ProducerState::open(std::move(options));
  if (!state) return std::unexpected(state.error());
  return Producer(std::move(*state));
}

Result<WriteSlot> Producer::acquire() {
  if (!state_ || state_->ended) return fail(ErrorCode::InvalidState, "the feed has ended");
  ProducerState& s = *state_;
  if (s.slotOut)
    return fail(ErrorCode::InvalidState, "a slot is already acquired: publish it or let it go first");
  if (!s.usable()) return s.failTruncated();
  if (s.supersededByOther())
    return fail(ErrorCode::TakenOver, "feed '" + s.options.feed + "' was taken over by another producer");
  const std::uint32_t index = s.chooseSlot();
  s.slotOut = true;
  WriteSlot slot;
  slot.owner_ = &s;
  slot.data_ = std::span<std::byte>(s.slotPayload(index), s.options.format.frameSize);
  slot.format_ = &s.options.format;
  slot.index_ = index;
  slot.frameNumber_ = s.nextFrame;
  slot.metadata_ = std::span<std::byte>(s.slotMetadata(index), s.geometry.metadataCapacity);
  return slot;
}

Result<std::uint64_t> Producer::publish(WriteSlot&& slot, const FrameMeta& meta) {
  if (!state_ || slot.owner_ != state_.get())
    return fail(ErrorCode::InvalidArgument, "the slot was not acquired from this producer");
  ProducerState& s = *state_;
  const std::uint32_t index = slot.index_;
  const std::uint32_t metadataSize = slot.metadataSize_;
  slot.owner_ = nullptr;  // consumed either way: published, or abandoned below
  if (!s.usable()) {
    s.slotOut = false;
    return s.failTruncated();
  }
  const std::uint64_t payloadSize = meta.payloadSize ? meta.payloadSize : s.options.format.frameSize;
  if (payloadSize > s.options.format.frameSize) {
    detail::abandonSlot(s, index);
    return fail(ErrorCode::InvalidArgument, "payload of " + std::to_string(payloadSize) +
                                                " bytes is larger than the frame (" +
                                                std::to_string(s.options.format.frameSize) + ")");
  }
  const std::uint64_t number = s.nextFrame++;
  const std::int64_t now = monotonicNs();

  layout::SlotHeader& header = s.slots[index];
  detail::storeRelaxed(header.frameNumber, number);
  detail::storeRelaxed(header.captureNs, meta.captureNs >= 0 ? meta.captureNs : now);
  detail::storeRelaxed(header.publishNs, now);
  detail::storeRelaxed(header.pts, meta.pts);
  detail::storeRelaxed(header.duration, meta.duration);
  detail::storeRelaxed(header.payloadSize, payloadSize);
  detail::storeRelaxed(header.flags, meta.flags);
  detail::storeRelaxed(header.metadataSize, metadataSize);
  s.sequence[index] += 1;  // even again: the frame is complete
  detail::storeRelease(header.sequence, s.sequence[index]);
  s.writtenFrame[index] = number;
  s.slotOut = false;
  detail::storeRelease(s.header->latestSlot, index + 1);
  detail::storeRelaxed(s.header->framesPublished, number);
  ++s.stats.framesPublished;
  s.wakeReaders();

  s.updateRate(now);
  if (s.supersededByOther())
    return fail(ErrorCode::TakenOver, "feed '" + s.options.feed + "' was taken over by another producer");
  return number;
}

Result<std::uint64_t> Producer::write(std::span<const std::byte> frame, const FrameMeta& meta) {
  static const Metadata none;
  return write(frame, meta, none);
}

Result<std::uint64_t> Producer::write(std::span<const std::byte> frame, const FrameMeta& meta,
                                      const Metadata& metadata) {
  if (state_ && frame.size() > state_->options.format.frameSize)
    return fail(ErrorCode::InvalidArgument, "frame of " + std::to_string(frame.size()) +
                                                " bytes is larger than the format's " +
                                                std::to_string(state_->options.format.frameSize));
  auto slot = acquire();
  if (!slot) return std::unexpected(slot.error());
  if (auto ok = slot->setMetadata(metadata); !ok) return std::unexpected(ok.error());
  std::memcpy(slot->data().data(), frame.data(), frame.size());
  FrameMeta withSize = meta;
  if (withSize.payloadSize == 0) withSize.payloadSize = frame.size();
  return publish(std::move(*slot), withSize);
}

Result<void> Producer::reconfigure(const FrameFormat& format, std::string caps) {
  if (!state_ || state_->ended) return fail(ErrorCode::InvalidState, "the feed has ended");
  if (state_->slotOut) return fail(ErrorCode::InvalidState, "publish or drop the acquired slot first");
  if (auto ok = validateFormat(format); !ok) return ok;
  ProducerOptions options = state_->options;
  options.format = format;
  options.caps = std::move(caps);
  options.replace = false;
  // Free the name first; readers see the old generation superseded and follow.
  state_->markEnded(FeedState::Superseded);
  state_->stopServing();
  state_->ended = true;
  auto next = ProducerState::open(std::move(options));
  if (!next) return std::unexpected(next.error());
  state_ = std::move(*next);
  return {};
}

void Producer::end() noexcept {
  if (!state_ || state_->ended) return;
  if (!state_->supersededByOther()) state_->markEnded(FeedState::Ended);
  state_->stopServing();
  state_->ended = true;
}

const FrameFormat& Producer::format() const noexcept {
  return state_->options.format;
}
const std::string& Producer::feed() const noexcept {
  return state_->options.feed;
}
std::uint64_t Producer::generation() const noexcept {
  return state_->generation;
}
std::uint32_t Producer::slotCount() const noexcept {
  return state_->options.slots;
}
std::uint64_t Producer::segmentSize() const noexcept {
  return state_->geometry.segmentSize;
}
std::uint32_t Producer::metadataCapacity() const noexcept {
  return state_->geometry.metadataCapacity;
}
Backend Producer::backend() const noexcept {
  return state_->options.backend;
}
ProducerStats Producer::stats() const noexcept {
  ProducerStats stats = state_->stats;
  stats.readersReclaimed = state_->reclaimed.load(std::memory_order_relaxed);
  return stats;
}
double Producer::frameRate() const noexcept {
  return state_->rate.hz();
}

std::uint32_t Producer::readerCount() const noexcept {
  return state_->activeCount.load(std::memory_order_relaxed);
}

}  // namespace frameshm
