#pragma once
// Decoding of the Kubernetes API's pod documents: a PodList page (LIST) and the WatchEvent lines of a watch
// stream. Only the fields attribution needs are read; unknown fields are ignored as the API's clients must.
#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "k8s/pod_cache.h"

namespace otelbpf::k8s {

struct PodListPage {
  std::vector<PodInfo> items;
  std::string resource_version;  // metadata.resourceVersion: where a watch starts
  std::string continue_token;    // metadata.continue: "" on the last page
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  PodInfo pod;  // for BOOKMARK only pod.resource_version is set
  // ERROR: the object is a metav1.Status ({"kind":"Status","status":"Failure","code":410,...}).
  int status_code = 0;
  std::string status_reason;
  std::string status_message;
};

// One decoder per thread: it keeps simdjson's buffers between documents.
class PodJsonDecoder {
 public:
  // false with a reason when the text is not a PodList.
  bool decode_pod_list(std::string_view json, PodListPage& out, std::string& error);
  // false with a reason when the line is not a WatchEvent.
  bool decode_watch_event(std::string_view json, WatchEvent& out, std::string& error);

 private:
  simdjson::dom::parser parser_;
};

}  // namespace otelbpf::k8s
