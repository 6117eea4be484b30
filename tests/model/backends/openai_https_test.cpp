// HTTPS test for the OpenAI-compatible backend.
//
// Theory of operation: the test makes a throwaway self-signed certificate for IP 127.0.0.1 with the OpenSSL API
// (RSA 2048, SAN IP:127.0.0.1, CA:TRUE so it can be its own trust anchor), writes it to a TempDir and serves a
// minimal /v1/chat/completions over httplib::SSLServer on an ephemeral 127.0.0.1 port. The backend must succeed when
// told to trust that certificate (ca_cert_file) and must refuse the same server with the system CA store (the
// certificate is verified by default), producing error samples rather than throwing.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "model/backends.hpp"
#include "base/error.hpp"
#include "tests/test_util.hpp"

namespace reval {
namespace {

using nlohmann::json;

// Writes key.pem and cert.pem into `dir`; returns false on any OpenSSL failure.
bool make_self_signed(const test::TempDir& dir) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) return false;
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (!ext) return false;
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) return false;
  FILE* kf = std::fopen(dir.file("key.pem").c_str(), "w");
  FILE* cf = std::fopen(dir.file("cert.pem").c_str(), "w");
  bool ok = kf && cf && PEM_write_PrivateKey(kf, key.get(), nullptr, nullptr, 0, nullptr, nullptr) &&
            PEM_write_X509(cf, cert.get());
  if (kf) std::fclose(kf);
  if (cf) std::fclose(cf);
  return ok;
}

GenerationRequest request() {
  GenerationRequest r;
  r.task = "t";
  r.problem_id = "p";
  r.messages = {{"user", "hi"}};
  r.sample_indices = {0, 1};
  return r;
}

TEST(OpenAIBackendHttps, VerifiesTheServerCertificate) {
  test::TempDir dir;
  ASSERT_TRUE(make_self_signed(dir));
  httplib::SSLServer svr(dir.file("cert.pem").c_str(), dir.file("key.pem").c_str());
  ASSERT_TRUE(svr.is_valid());
  int requests = 0;
  svr.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    ++requests;
    json body = json::parse(req.body);
    json choices = json::array();
    for (int i = 0; i < body.value("n", 1); ++i)
      choices.push_back({{"index", i}, {"finish_reason", "stop"}, {"message", {{"content", "tls-" + std::to_string(i)}}}});
    res.set_content(json{{"choices", choices}}.dump(), "application/json");
  });
  const int port = svr.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread th([&] { svr.listen_after_bind(); });
  for (int i = 0; i < 500 && !svr.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));

  BackendOptions o;
  o.model = "m";
  o.base_url = "https://127.0.0.1:" + std::to_string(port) + "/v1";
  o.api_key_env = "REVAL_TEST_HTTPS_KEY_UNSET";
  o.timeout_s = 20;
  o.connect_timeout_s = 5;
  o.max_retries = 1;
  o.backoff_initial_s = 0.01;
  o.ca_cert_file = dir.file("cert.pem");
  auto trusted = make_backend("openai", o)->generate(request());

  o.ca_cert_file.clear();  // system store: the self-signed certificate must be rejected
  auto untrusted = make_backend("openai", o)->generate(request());

  o.ca_cert_file = dir.file("missing.pem");
  EXPECT_THROW(make_backend("openai", o), Error);

  svr.stop();
  th.join();

  ASSERT_EQ(trusted.size(), 2u);
  EXPECT_TRUE(trusted[0].error.empty()) << trusted[0].error;
  EXPECT_EQ(trusted[0].text, "tls-0");
  EXPECT_EQ(trusted[1].text, "tls-1");
  ASSERT_EQ(untrusted.size(), 2u);
  for (const auto& c : untrusted) {
    EXPECT_EQ(c.finish, FinishReason::error);
    EXPECT_THAT(c.error, ::testing::HasSubstr("SSL"));
  }
  EXPECT_EQ(requests, 1);  // the untrusted attempts never reached the handler
}

}  // namespace
}  // namespace reval
