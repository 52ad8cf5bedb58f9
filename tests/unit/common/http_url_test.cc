// The one URL parser the OTLP/HTTP exporter and the Kubernetes API client share.
#include "common/http_url.h"

#include <gtest/gtest.h>

namespace otelbpf {
namespace {

TEST(HttpUrlTest, SchemesPortsAndTargets) {
  HttpUrl url;
  std::string error;
  ASSERT_TRUE(parse_http_url("https://10.96.0.1", url, error)) << error;
  EXPECT_TRUE(url.tls);
  EXPECT_EQ(url.host, "10.96.0.1");
  EXPECT_EQ(url.port, "443");
  EXPECT_EQ(url.target, "");
  ASSERT_TRUE(parse_http_url(" http://user:pw@[fd00::1]:8001/proxy/k8s/?x=1 ", url, error)) << error;
  EXPECT_FALSE(url.tls);
  EXPECT_EQ(url.host, "fd00::1");
  EXPECT_EQ(url.port, "8001");
  EXPECT_EQ(url.target, "/proxy/k8s/?x=1");
  ASSERT_TRUE(parse_http_url("http://collector?q", url, error)) << error;
  EXPECT_EQ(url.port, "80");
  EXPECT_EQ(url.target, "?q");
}

TEST(HttpUrlTest, WhatIsNotAUsableUrlSaysWhy) {
  HttpUrl url;
  std::string error;
  EXPECT_FALSE(parse_http_url("ftp://x", url, error));
  EXPECT_NE(error.find("ftp://x"), std::string::npos);
  EXPECT_FALSE(parse_http_url("http://[::1:80/", url, error));
  EXPECT_NE(error.find("IPv6"), std::string::npos);
  EXPECT_FALSE(parse_http_url("https://:443", url, error));
  EXPECT_FALSE(parse_http_url("http://h:0", url, error));
  EXPECT_FALSE(parse_http_url("http://h:65536", url, error));
  EXPECT_FALSE(parse_http_url("http://h:80x", url, error));
}

}  // namespace
}  // namespace otelbpf
