// SPDX-License-Identifier: LGPL-2.1-or-later
#include "test_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

extern char** environ;

namespace frameshm::test {
namespace {

constexpr std::string_view kShmPrefix = "frameshm.";

}  // namespace

std::string uniqueFeed(std::string_view tag, std::string_view prefix) {
  static std::atomic<int> counter{0};
  std::string name(prefix);
  name.append(tag).append("-").append(std::to_string(getpid())).append("-").append(std::to_string(counter++));
  return name;
}

bool feedServed(std::string_view feed, std::string_view socketDir) {
  std::string dir(socketDir);
  if (dir.empty() && std::getenv("FRAMESHM_SOCKET_DIR")) dir = std::getenv("FRAMESHM_SOCKET_DIR");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socklen_t length = 0;
  if (dir.empty()) {
    std::string name = "frameshm/";
    name.append(feed);
    std::memcpy(addr.sun_path + 1, name.data(), std::min(name.size(), sizeof addr.sun_path - 1));
    length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  } else {
    std::string path = dir;
    path.append("/frameshm.").append(feed).append(".sock");
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    length = sizeof addr;
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool served = connect(fd, reinterpret_cast<const sockaddr*>(&addr), length) == 0;
  close(fd);
  return served;
}

bool segmentExists(std::string_view feed) {
  struct stat st {};
  const std::string path = "/dev/shm/" + std::string(kShmPrefix) + std::string(feed);
  if (stat(path.c_str(), &st) == 0 || feedServed(feed)) return true;
  const char* dir = std::getenv("FRAMESHM_SOCKET_DIR");
  if (!dir || !*dir) return false;
  std::string socket = dir;
  socket.append("/frameshm.").append(feed).append(".sock");
  return lstat(socket.c_str(), &st) == 0;
}

std::vector<int> sysvSegments(pid_t creator) {
  std::vector<int> ids;
  shm_info info{};
  const int highest = shmctl(0, SHM_INFO, reinterpret_cast<shmid_ds*>(&info));
  for (int index = 0; index <= highest; ++index) {
    shmid_ds ds{};
    const int id = shmctl(index, SHM_STAT, &ds);
    if (id >= 0 && ds.shm_perm.cuid == geteuid() && (creator == 0 || ds.shm_cpid == creator))
      ids.push_back(id);
  }
  return ids;
}

std::vector<std::string> segmentsWithPrefix(std::string_view prefix) {
  std::vector<std::string> found;
  DIR* dir = opendir("/dev/shm");
  if (!dir) return found;
  const std::string full = std::string(kShmPrefix) + std::string(prefix);
  while (const dirent* entry = readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name.starts_with(full)) found.emplace_back(name.substr(kShmPrefix.size()));
  }
  closedir(dir);
  return found;
}

FeedGuard::~FeedGuard() {
  std::string name = "/";
  name.append(kShmPrefix).append(feed_);
  shm_unlink(name.c_str());
}

Child Child::fork(const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // A child behaves like a plain process: it dies of the signals it gets
    // (SIGTERM, SIGSEGV...) instead of running Catch2's fatal-signal
    // handlers, which are not async-signal-safe.
    for (int signal : {SIGINT, SIGILL, SIGFPE, SIGSEGV, SIGTERM, SIGABRT, SIGBUS}) {
      struct sigaction fallback {};
      fallback.sa_handler = SIG_DFL;
      sigaction(signal, &fallback, nullptr);
    }
    int code = 127;
    try {
      code = body();
    } catch (...) {
      code = 126;
    }
    std::fflush(nullptr);
    _exit(code);
  }
  return Child(pid);
}

Child Child::spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   const std::string& stdoutPath, const std::string& stderrPath) {
  return spawn(argv, SpawnOptions{.env = env, .stdoutPath = stdoutPath, .stderrPath = stderrPath});
}

Child Child::spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (options.ownGroup) setpgid(0, 0);
    for (const auto& entry : options.env) putenv(const_cast<char*>(entry.c_str()));
    auto redirect = [](const std::string& path, int target) {
      if (path.empty()) return;
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, target);
        close(fd);
      }
    };
    redirect(options.stdoutPath, STDOUT_FILENO);
    if (!options.stderrPath.empty() && options.stderrPath == options.stdoutPath)
      dup2(STDOUT_FILENO, STDERR_FILENO);
    else
      redirect(options.stderrPath, STDERR_FILENO);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::perror(args[0]);
    _exit(127);
  }
  // Also in the parent, so a kill() right after spawn() already reaches the group.
  if (pid > 0 && options.ownGroup) setpgid(pid, pid);
  return Child(pid, options.ownGroup);
}

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      group_(std::exchange(other.group_, false)),
      reaped_(std::exchange(other.reaped_, false)),
      status_(std::exchange(other.status_, 0)) {}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    wait(std::chrono::milliseconds(0));
    pid_ = std::exchange(other.pid_, -1);
    group_ = std::exchange(other.group_, false);
    reaped_ = std::exchange(other.reaped_, false);
    status_ = std::exchange(other.status_, 0);
  }
  return *this;
}

Child::~Child() {
  wait(std::chrono::milliseconds(0));
}

bool Child::running() {
  if (pid_ <= 0 || reaped_) return false;
  if (waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

int Child::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  bool killed = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reaped_) {
    if (waitpid(pid_, &status_, WNOHANG) == pid_) {
      reaped_ = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(SIGKILL);
      waitpid(pid_, &status_, 0);
      reaped_ = true;
      killed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (killed) return -1;
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

void Child::kill(int signal) noexcept {
  if (pid_ <= 0 || reaped_) return;
  if (group_) ::kill(-pid_, signal);
  ::kill(pid_, signal);
}

int Child::stop(std::chrono::milliseconds grace) {
  kill(SIGINT);
  return wait(grace);
}

bool waitForReaders(const Producer& producer, std::uint32_t count, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (producer.readerCount() < count) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

BackgroundPublisher::BackgroundPublisher(Producer& producer, std::chrono::milliseconds interval)
    : thread_([this, &producer, interval] {
        const std::vector<std::byte> frame(producer.format().frameSize);
        while (!stop_ && producer.write(frame)) std::this_thread::sleep_for(interval);
      }) {}

BackgroundPublisher::~BackgroundPublisher() {
  stop_ = true;
  thread_.join();
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TempDir::TempDir() {
  char pattern[] = "/tmp/frameshm-test-XXXXXX";
  const char* made = mkdtemp(pattern);
  path_ = made ? made : "/tmp";
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (path_ != "/tmp") std::filesystem::remove_all(path_, ignored);
}

}  // namespace frameshm::test
