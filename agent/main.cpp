// swarmwatch: container metrics of one Docker Swarm node for Prometheus.
#include <malloc.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "agent/build_info.h"
#include "agent/config.h"
#include "agent/daemon/agent.h"
#include "agent/healthcheck.h"
#include "agent/log.h"
#include "agent/open_file_limit.h"
#include "agent/rightsize.h"

int main(int argc, char** argv) {
  using namespace swarmwatch;
  // One malloc arena: the HTTP threads would otherwise each keep their own, holding several MiB of
  // freed scrape buffers apiece; the agent's threads rarely allocate at the same time.
  mallopt(M_ARENA_MAX, 1);
  // A fixed threshold keeps large buffers (log batches, encoded pushes, scrape answers) in their
  // own mappings, returned to the kernel when freed; glibc's default raises the threshold after
  // the first such free, and the heap then holds on to every freed batch.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  // Block the stop signals in every thread the agent will start, then wait for them here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto loaded = LoadConfig(std::vector<std::string>(argv + 1, argv + argc), ProcessEnvironment());
  if (!loaded.ok()) {
    std::fprintf(stderr, "swarmwatch: %s\n", loaded.error().message.c_str());
    return 2;
  }
  switch (loaded->action) {
    case ConfigAction::kHelp:
      std::fputs(loaded->help_text.c_str(), stdout);
      return 0;
    case ConfigAction::kVersion:
      std::printf("swarmwatch %s\n", std::string(Version()).c_str());
      return 0;
    case ConfigAction::kHealthcheck: {
      const Status health = CheckHealth(
          HealthzUrl(*ParseListenAddress(loaded->config.listen_address)), std::chrono::seconds(5));
      if (!health.ok()) {
        std::fprintf(stderr, "swarmwatch healthcheck: %s\n", health.message().c_str());
        return 1;
      }
      return 0;
    }
    case ConfigAction::kRightsize:
      // Queries may take minutes: Ctrl-C must end it as it ends any command.
      pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
      return RunRightsize(loaded->rightsize);
    case ConfigAction::kRun:
      break;
  }
  log::SetLevel(loaded->config.log_level);
  if (const OpenFileLimit files = RaiseOpenFileLimit(); files.after != files.before)
    log::Info("open file limit raised from {} to {}", files.before, files.after);

  auto agent = Agent::Start(loaded->config);
  if (!agent.ok()) {
    log::Error("cannot start: {}", agent.error().message);
    return 1;
  }
  int signal = 0;
  sigwait(&stop_signals, &signal);
  log::Info("received signal {}, shutting down", signal);
  agent.value().reset();
  log::Info("stopped");
  return 0;
}
