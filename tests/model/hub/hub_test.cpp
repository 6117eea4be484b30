// resolve_model_dir() against a mock Hugging Face Hub: a cpp-httplib server on 127.0.0.1 serving
// /{org}/{name}/resolve/{rev}/{path} from ../shared/models (tiny-random-qwen2: sharded safetensors + index;
// tinystories-656k: one model.safetensors and no chat template, so optional files answer 404).
//
// Theory of operation: the mock records every request (path, Range header, status) so tests can assert what went
// over the wire: a first resolve copies every checkpoint file byte for byte, a second makes no request at all, a
// transfer the server cuts mid-file (Content-Length of the whole file, fewer bytes sent, connection dropped)
// resumes with a Range request, an interrupted resolve continues later without re-fetching finished files, and a
// missing config.json is a clear error. The downloaded checkpoint must load in the engine with the same content
// hash as the original folder.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "model/backends/native_backend.hpp"
#include "model/hub.hpp"
#include "base/error.hpp"
#include "tests/model/hub/mock_hub.hpp"
#include "tests/test_util.hpp"

using namespace reval;
using reval::test::MockHub;
using reval::test::Request;
using reval::test::models_dir;
using reval::test::slurp;
namespace fs = std::filesystem;

namespace {

HubOptions options(const MockHub& hub, const std::string& cache, std::vector<std::string>* log = nullptr) {
  HubOptions o;
  o.hub_url = hub.url();
  o.cache_dir = cache;
  o.token = "test-token";  // never read $HF_TOKEN from the environment of whoever runs the tests
  o.log = [log](const std::string& line) {
    if (log) log->push_back(line);
  };
  return o;
}

// Every regular file of `src` named in `names` must exist in `dst` with identical bytes.
void expect_same_files(const std::string& src, const std::string& dst, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    ASSERT_TRUE(fs::is_regular_file(dst + "/" + n)) << n;
    EXPECT_TRUE(slurp(src + "/" + n) == slurp(dst + "/" + n)) << n << " differs";
  }
}

const std::vector<std::string> kQwenFiles = {
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "model.safetensors.index.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
    "model-00003-of-00003.safetensors"};

const Request* find_request(const std::vector<Request>& reqs, const std::string& suffix) {
  for (const auto& r : reqs)
    if (r.path.size() >= suffix.size() && r.path.compare(r.path.size() - suffix.size(), suffix.size(), suffix) == 0)
      return &r;
  return nullptr;
}

}  // namespace

TEST(Hub, ParsesHubIds) {
  HubModelId id;
  ASSERT_TRUE(parse_hub_model_id("Qwen/Qwen2.5-0.5B-Instruct", &id));
  EXPECT_EQ(id.org, "Qwen");
  EXPECT_EQ(id.name, "Qwen2.5-0.5B-Instruct");
  EXPECT_EQ(id.revision, "");
  ASSERT_TRUE(parse_hub_model_id("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B@v1.0", &id));
  EXPECT_EQ(id.revision, "v1.0");
  EXPECT_TRUE(parse_hub_model_id("a/b@refs/pr/1", &id));
  EXPECT_EQ(hub_model_file_url("http://h/", id, "config.json"), "http://h/a/b/resolve/refs%2Fpr%2F1/config.json");
  for (const char* bad : {"name", "/abs/path", "./x/y", "a/b/c", "../x", "a/..", "a/b@", "a/b@../x", "a b/c", ""})
    EXPECT_FALSE(parse_hub_model_id(bad)) << bad;
}

TEST(Hub, CacheRootFollowsEnvironment) {
  EXPECT_EQ(model_cache_root("/explicit"), "/explicit");
  const char* saved = std::getenv("REVAL_CACHE");
  std::string keep = saved ? saved : "";
  setenv("REVAL_CACHE", "/tmp/reval-cache-test", 1);
  EXPECT_EQ(model_cache_root(), "/tmp/reval-cache-test");
  if (saved)
    setenv("REVAL_CACHE", keep.c_str(), 1);
  else
    unsetenv("REVAL_CACHE");
}

TEST(Hub, LocalDirectoryIsReturnedUnchanged) {
  test::TempDir cache;
  std::string dir = models_dir() + "/tinystories-656k";
  HubOptions o;
  o.hub_url = "http://127.0.0.1:1";  // would fail if contacted
  o.cache_dir = cache.path();
  EXPECT_EQ(resolve_model_dir(dir, o), dir);
  try {
    resolve_model_dir(cache.path() + "/no/such/checkpoint", o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("no such directory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not a Hugging Face Hub id"), std::string::npos) << msg;
  }
  try {
    resolve_model_dir(dir + "/config.json", o);  // a file, not a checkpoint folder
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a directory"), std::string::npos) << e.what();
  }
}

TEST(Hub, DownloadsShardedCheckpointThenReusesIt) {
  MockHub hub;
  std::string src = models_dir() + "/tiny-random-qwen2";
  hub.serve("test-org/tiny-random-qwen2", src);
  test::TempDir cache;
  std::vector<std::string> log;
  std::string dir = resolve_model_dir("test-org/tiny-random-qwen2", options(hub, cache.path(), &log));
  EXPECT_EQ(fs::path(dir), fs::path(cache.path()) / "models" / "test-org--tiny-random-qwen2" / "main");
  expect_same_files(src, dir, kQwenFiles);
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors"));
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().extension() == ".part", false) << e.path();
  auto reqs = hub.requests();
  EXPECT_EQ(reqs.size(), kQwenFiles.size() + 1);  // + chat_template.jinja (404)
  const Request* tmpl = find_request(reqs, "/chat_template.jinja");
  ASSERT_NE(tmpl, nullptr);
  EXPECT_EQ(tmpl->status, 404);
  EXPECT_EQ(reqs[0].path, "/test-org/tiny-random-qwen2/resolve/main/config.json");
  EXPECT_EQ(find_request(reqs, "/model.safetensors"), nullptr);  // the index named the shards
  EXPECT_FALSE(log.empty());

  // Complete: a second resolve touches no network.
  std::string again = resolve_model_dir("test-org/tiny-random-qwen2", options(hub, cache.path()));
  EXPECT_EQ(again, dir);
  EXPECT_EQ(hub.requests().size(), reqs.size());
  // Even with a hub that cannot be reached.
  HubOptions offline = options(hub, cache.path());
  offline.hub_url = "http://127.0.0.1:1";
  EXPECT_EQ(resolve_model_dir("test-org/tiny-random-qwen2", offline), dir);
}

TEST(Hub, SingleFileCheckpointWithoutOptionalFilesAndRevision) {
  MockHub hub;
  std::string src = models_dir() + "/tinystories-656k";
  hub.serve("tiny/stories", src);
  test::TempDir cache;
  HubOptions o = options(hub, cache.path());
  o.revision = "v2";  // overridden by the id's own revision
  std::string dir = resolve_model_dir("tiny/stories@v1", o);
  EXPECT_EQ(fs::path(dir), fs::path(cache.path()) / "models" / "tiny--stories" / "v1");
  expect_same_files(src, dir,
                    {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                     "model.safetensors"});
  EXPECT_FALSE(fs::exists(dir + "/chat_template.jinja"));
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(dir + "/reference_outputs.json"));  // not a checkpoint file
  auto reqs = hub.requests();
  for (const auto& r : reqs) EXPECT_NE(r.path.find("/resolve/v1/"), std::string::npos) << r.path;
  const Request* index = find_request(reqs, "/model.safetensors.index.json");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->status, 404);
  // The revision without "@" comes from the options and lands in its own folder.
  std::string v2 = resolve_model_dir("tiny/stories", o);
  EXPECT_EQ(fs::path(v2).filename(), "v2");
}

TEST(Hub, TransferCutMidFileResumesWithRange) {
  MockHub hub;
  std::string src = models_dir() + "/tiny-random-qwen2";
  hub.serve("test-org/tiny-random-qwen2", src);
  const std::string shard = "model-00001-of-00003.safetensors";
  const size_t cut = 5'000'000;
  hub.cut_once("test-org/tiny-random-qwen2", shard, cut);
  test::TempDir cache;
  std::vector<std::string> log;
  std::string dir = resolve_model_dir("test-org/tiny-random-qwen2", options(hub, cache.path(), &log));
  expect_same_files(src, dir, kQwenFiles);
  std::vector<Request> shard_reqs;
  for (const auto& r : hub.requests())
    if (r.path.find(shard) != std::string::npos) shard_reqs.push_back(r);
  ASSERT_EQ(shard_reqs.size(), 2u);
  EXPECT_EQ(shard_reqs[0].range, "");
  EXPECT_EQ(shard_reqs[1].range, "bytes=" + std::to_string(cut) + "-");
  bool noted = false;
  for (const auto& l : log) noted |= l.find("interrupted") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(Hub, InterruptedResolveContinuesLater) {
  MockHub hub;
  std::string src = models_dir() + "/tiny-random-qwen2";
  hub.serve("test-org/tiny-random-qwen2", src);
  const std::string shard = "model-00002-of-00003.safetensors";
  hub.cut_once("test-org/tiny-random-qwen2", shard, 1'000'000);
  test::TempDir cache;
  HubOptions o = options(hub, cache.path());
  o.max_attempts = 1;  // the cut ends this resolve
  EXPECT_THROW(resolve_model_dir("test-org/tiny-random-qwen2", o), Error);
  std::string dir = (fs::path(cache.path()) / "models" / "test-org--tiny-random-qwen2" / "main").string();
  EXPECT_TRUE(fs::exists(dir + "/" + shard + ".part"));
  EXPECT_FALSE(fs::exists(dir + "/" + shard));
  EXPECT_FALSE(fs::exists(dir + "/.reval-complete"));
  size_t before = hub.requests().size();

  std::string again = resolve_model_dir("test-org/tiny-random-qwen2", options(hub, cache.path()));
  EXPECT_EQ(again, dir);
  expect_same_files(src, dir, kQwenFiles);
  auto reqs = hub.requests();
  std::vector<Request> later(reqs.begin() + static_cast<std::ptrdiff_t>(before), reqs.end());
  // Finished files are not fetched again; the cut shard continues where it stopped.
  for (const auto& r : later) {
    EXPECT_EQ(r.path.find("config.json"), std::string::npos) << r.path;
    EXPECT_EQ(r.path.find("00001"), std::string::npos) << r.path;
  }
  const Request* resumed = find_request(later, "/" + shard);
  ASSERT_NE(resumed, nullptr);
  EXPECT_EQ(resumed->range, "bytes=1000000-");
  EXPECT_NE(find_request(later, "/model-00003-of-00003.safetensors"), nullptr);
}

TEST(Hub, MissingConfigIsAClearError) {
  MockHub hub;
  hub.serve("test-org/tiny-random-qwen2", models_dir() + "/tiny-random-qwen2");
  hub.hide("test-org/tiny-random-qwen2", "config.json");
  test::TempDir cache;
  try {
    resolve_model_dir("test-org/tiny-random-qwen2", options(hub, cache.path()));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("test-org/tiny-random-qwen2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("HTTP 404"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not a local directory"), std::string::npos) << msg;
  }
  EXPECT_EQ(hub.requests().size(), 1u);  // nothing after the failed config.json, no retries of a 404
  // An unknown repository fails the same way.
  EXPECT_THROW(resolve_model_dir("nobody/nothing", options(hub, cache.path())), Error);
}

TEST(Hub, DownloadedCheckpointLoadsWithTheSameHash) {
  MockHub hub;
  std::string src = models_dir() + "/tiny-random-qwen2";
  hub.serve("test-org/tiny-random-qwen2", src);
  test::TempDir cache;
  std::string dir = resolve_model_dir("test-org/tiny-random-qwen2", options(hub, cache.path()));
  NativeOptions n;
  n.threads = 1;
  auto original = make_native_backend(src, n);
  auto downloaded = make_native_backend(dir, n);
  std::string want = original->info().model_hash;
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(downloaded->info().model_hash, want);
}
