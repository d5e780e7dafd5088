// SPDX-License-Identifier: LGPL-2.1-or-later
// qt_viewer — a Qt 5 window showing a frameshm feed, driven by Qt's own event loop.
//
// No thread of its own: the consumer is opened with a pollable descriptor,
// and a QSocketNotifier on it calls us when the producer publishes. Each
// frame is wrapped in a QImage over the shared memory itself (packed RGB/BGR/
// gray formats; YUV formats are converted to BGR first), turned into a pixmap
// for the window, and kept only if the frame was not overwritten meanwhile.
// The status bar shows the feed's rate, drops, torn reads and latency.
//
//   frameshm-sample-qt-viewer --feed cam0
//   frameshm-sample-qt-viewer --feed cam0 --frames 60 --screenshot shot.png   (exits on its own)
#include <QApplication>
#include <QImage>
#include <QLabel>
#include <QMainWindow>
#include <QPixmap>
#include <QSocketNotifier>
#include <QStatusBar>
#include <QTimer>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "cli_parse.hpp"
#include "frameshm/clock.hpp"
#include "frameshm/consumer.hpp"
#include "frameshm/opencv.hpp"

namespace {

struct Settings {
  std::string feed;
  double openTimeout = 5.0;  // seconds to wait for the feed to appear
  long long frames = 0;      // exit after showing this many (0: until closed)
  std::string screenshot;    // with --frames: grab the window into this PNG before exiting
};

// The QImage format that reads `format` as it lies in memory, if Qt has one.
std::optional<QImage::Format> qtFormat(frameshm::PixelFormat format) {
  using frameshm::PixelFormat;
  switch (format) {
    case PixelFormat::Gray8:
      return QImage::Format_Grayscale8;
    case PixelFormat::Rgb:
      return QImage::Format_RGB888;
    case PixelFormat::Bgr:
      return QImage::Format_BGR888;
    case PixelFormat::Rgba:
      return QImage::Format_RGBA8888;
    case PixelFormat::Bgra:
      return QImage::Format_ARGB32;  // B,G,R,A bytes = 0xAARRGGBB little-endian
    case PixelFormat::Bgrx:
      return QImage::Format_RGB32;
    default:
      return std::nullopt;  // YUV: converted first
  }
}

class Viewer : public QMainWindow {
 public:
  Viewer(frameshm::Consumer consumer, Settings settings)
      : consumer_(std::move(consumer)), settings_(std::move(settings)) {
    setWindowTitle(QString::fromStdString("frameshm: " + consumer_.feed()));
    image_ = new QLabel(this);
    image_->setAlignment(Qt::AlignCenter);
    image_->setMinimumSize(320, 240);
    setCentralWidget(image_);
    statusBar()->showMessage("waiting for the first frame");

    // Readable when a frame is published or the feed changes state.
    notifier_ = new QSocketNotifier(consumer_.pollFd(), QSocketNotifier::Read, this);
    connect(notifier_, &QSocketNotifier::activated, this, [this] { drain(); });
    // While no producer is attached nothing wakes the descriptor; this timer
    // re-attaches (tryFrame) and refreshes the status bar.
    auto* tick = new QTimer(this);
    connect(tick, &QTimer::timeout, this, [this] {
      if (finished_) return;
      if (!consumer_.attached()) drain();
      showStatus();
    });
    tick->start(250);
  }

  int exitCode() const { return exitCode_; }

 private:
  // Takes every frame that is ready and shows the newest.
  void drain() {
    while (!finished_) {
      auto frame = consumer_.tryFrame();
      if (!frame) {
        const auto code = frame.error().code;
        if (code == frameshm::ErrorCode::NoFrame) return;
        if (code == frameshm::ErrorCode::FeedEnded || code == frameshm::ErrorCode::ProducerGone) {
          state_ = QString::fromStdString(frame.error().message);
          showStatus();
          return;  // the timer re-attaches when a producer comes back
        }
        std::fprintf(stderr, "frameshm-sample-qt-viewer: %s\n", frame.error().message.c_str());
        exitCode_ = 1;
        finished_ = true;
        QApplication::exit(exitCode_);
        return;
      }
      state_.clear();
      present(*frame);
    }
  }

  void present(frameshm::Frame& frame) {
    const auto& format = frame.format();
    QImage view;
    if (auto qt = qtFormat(format.pixelFormat)) {
      // Over the shared memory: no copy until the pixmap below.
      view = QImage(reinterpret_cast<const uchar*>(frame.plane(0)), static_cast<int>(format.width),
                    static_cast<int>(format.height), static_cast<qsizetype>(format.planes[0].stride), *qt);
    } else {
      if (!frameshm::opencv::toBgr(frame, bgr_)) return;
      view =
          QImage(bgr_.data, bgr_.cols, bgr_.rows, static_cast<qsizetype>(bgr_.step), QImage::Format_BGR888);
    }
    QPixmap pixmap = QPixmap::fromImage(view);
    if (!frame.intact()) return;  // overwritten while we read it: keep the last good picture
    latencyUs_ = static_cast<double>(frameshm::monotonicNs() - frame.publishNs()) / 1000.0;
    image_->setPixmap(pixmap.scaled(image_->size(), Qt::KeepAspectRatio, Qt::FastTransformation));
    ++shown_;
    if (settings_.frames > 0 && shown_ >= settings_.frames) finish();
  }

  void showStatus() {
    const auto stats = consumer_.stats();
    QString text = QString("%1x%2 %3 | %4 fps | %5 shown, %6 dropped, %7 torn | latency %8 us")
                       .arg(consumer_.format().width)
                       .arg(consumer_.format().height)
                       .arg(QString::fromUtf8(frameshm::toString(consumer_.format().pixelFormat).data()))
                       .arg(consumer_.frameRate(), 0, 'f', 1)
                       .arg(shown_)
                       .arg(stats.framesDropped)
                       .arg(stats.framesTorn)
                       .arg(latencyUs_, 0, 'f', 0);
    if (!state_.isEmpty()) text = state_ + " | " + text;
    statusBar()->showMessage(text);
  }

  void finish() {
    finished_ = true;  // exit() returns to the loop first: show nothing more
    notifier_->setEnabled(false);
    showStatus();
    if (!settings_.screenshot.empty()) {
      if (!grab().save(QString::fromStdString(settings_.screenshot))) {
        std::fprintf(stderr, "frameshm-sample-qt-viewer: cannot write the screenshot '%s'\n",
                     settings_.screenshot.c_str());
        exitCode_ = 1;
      }
    }
    const auto stats = consumer_.stats();
    std::printf("qt viewer: feed '%s': %lld frames shown, %llu dropped, %llu torn\n",
                consumer_.feed().c_str(), shown_, static_cast<unsigned long long>(stats.framesDropped),
                static_cast<unsigned long long>(stats.framesTorn));
    QApplication::exit(exitCode_);
  }

  frameshm::Consumer consumer_;
  Settings settings_;
  QLabel* image_ = nullptr;
  QSocketNotifier* notifier_ = nullptr;
  cv::Mat bgr_;
  QString state_;
  long long shown_ = 0;
  double latencyUs_ = 0;
  int exitCode_ = 0;
  bool finished_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);  // takes Qt's own options (-platform, ...) out of argv

  Settings settings;
  CLI::App cli{"frameshm-sample-qt-viewer: show a frameshm feed in a Qt window", "frameshm-sample-qt-viewer"};
  cli.add_option("--feed", settings.feed, "feed to show")->required();
  cli.add_option("--open-timeout", settings.openTimeout, "seconds to wait for the feed to appear")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--frames", settings.frames,
                 "exit after showing this many frames (0: when the window closes)")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--screenshot", settings.screenshot,
                 "with --frames: save the window as this PNG before exiting")
      ->needs("--frames");
  if (auto code = frameshm::cli::parse(cli, argc, argv)) return *code;

  auto consumer = frameshm::Consumer::open({
      .feed = settings.feed,
      .openTimeout = std::chrono::milliseconds(static_cast<long long>(settings.openTimeout * 1000)),
      .pollable = true,
  });
  if (!consumer) {
    std::fprintf(stderr, "frameshm-sample-qt-viewer: %s\n", consumer.error().message.c_str());
    return frameshm::cli::kExitUsage;
  }

  Viewer viewer(std::move(*consumer), settings);
  viewer.resize(680, 560);
  viewer.show();
  const int code = QApplication::exec();
  return code != 0 ? code : viewer.exitCode();
}
