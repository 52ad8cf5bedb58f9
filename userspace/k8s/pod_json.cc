#include "k8s/pod_json.h"

#include <algorithm>

namespace otelbpf::k8s {
namespace {

using simdjson::dom::element;

std::string string_at(element e, std::string_view key) {
  std::string_view value;
  if (e[key].get(value) != simdjson::SUCCESS) return {};
  return std::string(value);
}

bool bool_at(element e, std::string_view key) {
  bool value = false;
  return e[key].get(value) == simdjson::SUCCESS && value;
}

// "containerd://<id>" -> runtime "containerd", id "<id>".
void add_container_statuses(element status, std::string_view key, PodInfo& pod) {
  simdjson::dom::array statuses;
  if (status[key].get(statuses) != simdjson::SUCCESS) return;
  for (element s : statuses) {
    ContainerInfo c;
    c.name = string_at(s, "name");
    const std::string full = string_at(s, "containerID");
    if (const auto scheme = full.find("://"); scheme != std::string::npos) {
      c.runtime = full.substr(0, scheme);
      c.id = full.substr(scheme + 3);
    } else {
      c.id = full;
    }
    // A container that has not started yet has no id: nothing can run in it to attribute.
    if (!c.id.empty()) pod.containers.push_back(std::move(c));
  }
}

PodInfo pod_from(element object) {
  PodInfo pod;
  element metadata, spec, status;
  if (object["metadata"].get(metadata) == simdjson::SUCCESS) {
    pod.uid = string_at(metadata, "uid");
    pod.name = string_at(metadata, "name");
    pod.namespace_name = string_at(metadata, "namespace");
    pod.resource_version = string_at(metadata, "resourceVersion");
    element labels;
    if (metadata["labels"].get(labels) == simdjson::SUCCESS)
      pod.pod_template_hash = string_at(labels, "pod-template-hash");
    simdjson::dom::array owners;
    if (metadata["ownerReferences"].get(owners) == simdjson::SUCCESS) {
      for (element o : owners)
        pod.owners.push_back(
            OwnerReference{string_at(o, "kind"), string_at(o, "name"), bool_at(o, "controller")});
    }
  }
  if (object["spec"].get(spec) == simdjson::SUCCESS) {
    pod.node_name = string_at(spec, "nodeName");
    pod.host_network = bool_at(spec, "hostNetwork");
  }
  if (object["status"].get(status) == simdjson::SUCCESS) {
    pod.phase = string_at(status, "phase");
    if (auto ip = string_at(status, "podIP"); !ip.empty()) pod.pod_ips.push_back(ip);
    simdjson::dom::array ips;
    if (status["podIPs"].get(ips) == simdjson::SUCCESS) {
      for (element entry : ips) {
        auto ip = string_at(entry, "ip");
        if (!ip.empty() && std::find(pod.pod_ips.begin(), pod.pod_ips.end(), ip) == pod.pod_ips.end())
          pod.pod_ips.push_back(std::move(ip));
      }
    }
    add_container_statuses(status, "containerStatuses", pod);
    add_container_statuses(status, "initContainerStatuses", pod);
    add_container_statuses(status, "ephemeralContainerStatuses", pod);
  }
  return pod;
}

}  // namespace

bool PodJsonDecoder::decode_pod_list(std::string_view json, PodListPage& out, std::string& error) {
  element root;
  if (auto ec = parser_.parse(json.data(), json.size(), true).get(root); ec) {
    error = std::string("PodList is not JSON: ") + simdjson::error_message(ec);
    return false;
  }
  const auto kind = string_at(root, "kind");
  if (kind != "PodList") {
    error = "expected a PodList, got kind '" + kind + "'";
    return false;
  }
  out = {};
  element metadata;
  if (root["metadata"].get(metadata) == simdjson::SUCCESS) {
    out.resource_version = string_at(metadata, "resourceVersion");
    out.continue_token = string_at(metadata, "continue");
  }
  simdjson::dom::array items;
  if (root["items"].get(items) == simdjson::SUCCESS)
    for (element item : items) out.items.push_back(pod_from(item));
  return true;
}

bool PodJsonDecoder::decode_watch_event(std::string_view json, WatchEvent& out, std::string& error) {
  element root;
  if (auto ec = parser_.parse(json.data(), json.size(), true).get(root); ec) {
    error = std::string("watch event is not JSON: ") + simdjson::error_message(ec);
    return false;
  }
  const auto type = string_at(root, "type");
  element object;
  if (root["object"].get(object) != simdjson::SUCCESS) {
    error = "watch event '" + type + "' has no object";
    return false;
  }
  out = {};
  if (type == "ADDED") {
    out.type = WatchEventType::kAdded;
  } else if (type == "MODIFIED") {
    out.type = WatchEventType::kModified;
  } else if (type == "DELETED") {
    out.type = WatchEventType::kDeleted;
  } else if (type == "BOOKMARK") {
    out.type = WatchEventType::kBookmark;
  } else if (type == "ERROR") {
    out.type = WatchEventType::kError;
    int64_t code = 0;
    if (object["code"].get(code) == simdjson::SUCCESS) out.status_code = static_cast<int>(code);
    out.status_reason = string_at(object, "reason");
    out.status_message = string_at(object, "message");
    return true;
  } else {
    error = "unknown watch event type '" + type + "'";
    return false;
  }
  out.pod = pod_from(object);
  return true;
}

}  // namespace otelbpf::k8s
