#pragma once
// The trace assembler stage (docs/linking.md). Spans wait here for their link partners: the sys CLIENT span
// of the caller, the app span made from the same request, the inbound request of the same thread. A span
// with partners that may still come from an SDK (whose exporter batches, maybe behind a collector) waits as
// long as that SDK's spans are measured to lag, within a bound; every other span leaves after the link
// window. Nothing is dropped for lack of a link, and what leaves early because of a bound is counted.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "assembler/app_lag.h"
#include "assembler/span_facts.h"
#include "assembler/span_id_map.h"
#include "assembler/time_index.h"
#include "common/hash_map.h"
#include "common/metrics.h"
#include "model/span_batch.h"
#include "pipeline/span_pipeline.h"

namespace otelbpf {

// Receives assembled batches; the exporters' fan-out in the agent. The batch is not yet shared, so the sink
// may still change it (pod attribution) before handing it on as shared_ptr<const SpanBatch>.
using AssembledBatchSink = std::function<void(std::shared_ptr<SpanBatch>)>;

// The answer of a partner lookup: the one span that fits, or none (and whether several fitted equally).
struct PartnerMatch {
  const SpanFacts* span = nullptr;
  bool ambiguous = false;
};

struct AssemblerOptions {
  // How long every span waits for partners from the probes (sys and net spans of the same call).
  std::chrono::milliseconds link_window{5000};
  std::size_t max_buffered_spans = 200000;
  // link_app_server_to_sys_server: the app SERVER span made from a request is re-parented under the sys
  // SERVER span that read it (the original parent is kept in otelbpf.original_parent_span_id).
  bool reparent_app_server_spans = true;
  // Spans that an SDK's late spans may still claim wait up to this long (measured lag + margin).
  std::chrono::milliseconds max_link_wait{30000};
  // The lag assumed for an SDK before any of its spans was measured: the default BatchSpanProcessor
  // delay (5 s) plus a collector's batching.
  std::chrono::milliseconds assumed_app_lag{10000};
  // Packet capture runs on this node: a server end waits its window for the net spans between the ends.
  bool expect_net_spans = false;
  // A node agent of a gateway tier (docs/gateway.md): spans that wait for a partner on another node are
  // marked otelbpf.gateway.key as they leave, and client ends whose server end is not here are marked
  // otelbpf.gateway.reference (gateway/gateway_router.h sends both on).
  bool gateway_routing = false;
  // Spans of calls traced here may arrive from other agents (receiver.peer_agents, or this is a gateway):
  // their batches come a link window or more late, so the facts they link to are kept longer; their net
  // spans too, so a server end waits its window for them as with expect_net_spans.
  bool peer_spans = false;
  // The tracer's compact sys spans leave compact (linked in place) instead of as OTLP: for sinks that
  // take both forms (the agent's exporters, trace view and pod attribution). Not with gateway routing,
  // which marks spans with attributes.
  bool compact_sys_output = false;
  // The agent's memory budget: the batches it emits hold their spans' bytes, and the facts it keeps are
  // charged too (nullptr: no accounting).
  MemoryBudget* memory = nullptr;
};

class TraceAssembler {
 public:
  using Clock = std::chrono::steady_clock;

  TraceAssembler(AssemblerOptions options, AssembledBatchSink sink,
                 MetricsRegistry& metrics = default_metrics());

  void add(SpanBatch batch, Clock::time_point now = Clock::now());
  // Emits the spans whose wait is over.
  void poll(Clock::time_point now = Clock::now());
  // Emits everything still waiting (shutdown).
  void flush();

  std::size_t buffered_spans() const { return buffered_spans_; }
  // Spans (waiting or emitted) whose ids and link keys are still remembered for partners to find.
  std::size_t remembered_facts() const { return facts_.size(); }
  // Entries of the link indexes and of the emitted spans' count per trace (each names a remembered fact).
  std::size_t index_entries() const;

  // Whether sys spans may come (the syscall probes run, or peer agents may send theirs). While none is
  // expected and none came for two link windows, nothing can link an app span: app batches pass straight
  // through (OTLP-only mode costs no window of memory). True until the agent knows.
  void set_expect_sys_spans(bool expect) { expect_sys_spans_ = expect; }

 private:
  using Resolution = LinkResolution;  // span_facts.h
  // Resolutions chain (client -> server -> thread-linked client -> app span ...); real chains are short.
  static constexpr std::size_t kMaxChain = 32;
  // The spans a resolution passes through, to stop at cycles (a hostile or broken sender can make any
  // graph of links) instead of recursing until the stack ends.
  struct ResolvePath {
    // Held in place: a vector was one or two allocations for every span resolved.
    std::array<const std::string*, kMaxChain> spans{};
    std::size_t size = 0;
    bool contains(const std::string& id) const;
  };
  // One batch as it arrived; its spans leave one by one as their wait ends.
  struct Pending {
    std::shared_ptr<SpanBatch> batch;
    Clock::time_point arrived;
    // resource / scope / span of the OTLP request, or (scope kCompact) group / span of sys_groups.
    static constexpr int kCompact = -1;
    struct Slot {
      int resource, scope, span;
      bool left = false;
    };
    std::vector<Slot> slots;
    std::size_t waiting = 0;
    std::size_t complete = 0;  // spans marked pair_complete and still here: worth a look before the window
    // Held spans change their minds only when SDK spans arrive or their wait ends: until then, polls skip
    // the batch instead of resolving its held spans again.
    std::uint64_t checked_at_generation = ~std::uint64_t{0};
    Clock::time_point recheck_at = Clock::time_point::max();
    bool local_wait_over = false;  // kLocalPartnerWait has passed and its spans were looked at then
    std::uint64_t arrived_at_generation = 0;  // app_generation_ when it arrived
  };

  void index(const SpanBatch& batch, Clock::time_point now, std::uint64_t batch_seq);
  // The node of the fact with this span key, default-constructed: a new one, or the one of an id seen
  // again (a sender that reuses ids), whose index entries go with the earlier fact.
  SpanFacts& place_fact(std::uint64_t key);
  SpanFacts& place_fact(SpanFacts&& f);  // the fact moved into its node
  // Puts a placed fact in the indexes (it has its seen time and batch).
  void index_span(SpanFacts& f);
  // Removes what index_span put in the indexes for this fact, and its frozen resolution: called as the
  // fact is forgotten, so the indexes never hold more than the facts.
  void unindex_span(const SpanFacts& f);
  // Puts a sys SERVER span in the indexes that only SDK spans search (by namespaced pid, connection and
  // request), once: at its arrival when an SDK may claim it (app_may_claim), else when it is kept after it
  // left (for a late SDK span, or as a sample). A server that has served long enough without an SDK
  // (nginx under load) is not inserted and erased there for every request that it serves.
  void index_for_app_spans(SpanFacts& f);
  void forget_fact(SpanIdMap<SpanFacts>::iterator it);
  void learn_from_app_span(const SpanFacts& app, Clock::time_point now);
  // kEarly: only spans with nothing left to wait for (both ends in); kReady: spans past their wait;
  // kAll: everything (shutdown, memory bound).
  enum class EmitMode { kEarly, kReady, kAll };
  // `resolution`: where it goes, when it does (emit_from links it with that instead of resolving again).
  bool leaves_early(const SpanFacts& f, Resolution& resolution) const;
  // Whether the other end of the span's exchange can only come from this node's own probes (the peer is
  // an address of this node), which deliver both ends within a tick of each other or not at all.
  bool partner_comes_from_here(const SpanFacts& f) const;
  // Whether the other end of a sys span's exchange is in, or will not come any more.
  bool other_end_settled(const SpanFacts& f) const;
  // Packet capture runs here, or net spans came lately: a server end may still get them.
  bool net_spans_may_come() const;
  void pass_through(SpanBatch batch, const std::string& source);
  void mark_pair_complete(SpanFacts& f);
  void emit_ready(Clock::time_point now);
  // Emits the spans of one batch whose wait is over (kReady) or all of them (kAll: shutdown, bound).
  void emit_from(Pending& p, Clock::time_point now, EmitMode mode);
  void link(otlp::Span& span, SpanFacts& f, Resolution&& r);
  // The bookkeeping of a span leaving with resolution `r` (frozen, counted); true when its trace and
  // parent change to r's.
  bool record_link(SpanFacts& f, Resolution&& r);  // r moves into f.frozen
  void mark_emitted(SpanFacts& f);
  // A sys CLIENT span of a thread link that leaves or is forgotten no longer waits for its request.
  void release_waiting_thread_client(const SpanFacts& f);
  void mark_for_gateway(otlp::Span& span, const SpanFacts& f) const;
  // The highest span of this node above `f` once linked (f itself for a root); nullptr when the chain
  // leads to a parent that is not here (the trace is joined by context already).
  const SpanFacts* topmost_local(const SpanFacts& f) const;
  void forget_old_facts(Clock::time_point now);
  void count_link(const char* rule);
  void count_ambiguous(const char* rule);
  void count_late(std::size_t spans);

  // The rules (docs/linking.md names each one; metrics label them alike).
  Resolution resolve(const SpanFacts& span, ResolvePath& path) const;
  Resolution final_of(const std::string& span_id, ResolvePath& path) const;
  void follow(const std::string& partner, Resolution& r, ResolvePath& path) const;
  void link_under(const std::string& parent, const char* rule, Resolution& r, ResolvePath& path) const;
  void link_tcp_sys_server(const SpanFacts& f, Resolution& r, ResolvePath& path) const;
  void link_tcp_net_span(const SpanFacts& f, Resolution& r, ResolvePath& path) const;
  void link_sys_client(const SpanFacts& f, Resolution& r, ResolvePath& path) const;
  void link_app_server(const SpanFacts& f, Resolution& r, ResolvePath& path) const;
  void join_moved_trace(const SpanFacts& f, Resolution& r, ResolvePath& path) const;

  // Partner lookups; each returns nullptr when none or when several fit equally (counted as ambiguous).
  const SpanFacts* facts_of(const std::string& span_id) const;
  const SpanFacts* facts_of_key(std::uint64_t key) const;  // by span_key
  const SpanFacts* thread_linked_server(const SpanFacts& client) const;
  std::vector<const SpanFacts*> net_path(std::uint64_t tcp_hash) const;
  const SpanFacts* sys_server_by_header(const SpanFacts& app) const;
  using Match = PartnerMatch;

 public:
  // An app span's time on the kernel's clock, and how far it may still be off.
  struct AppTime {
    std::uint64_t start, end, slack;
  };

 private:
  // The SDK span's time on the kernel's clock. `learned_offset` false: as if the SDK's offset were not
  // known yet (its wider slack), for a second look when the learned offset finds nothing.
  AppTime app_time(const SpanFacts& app, bool learned_offset = true) const;
  Match sys_server_by_connection(const SpanFacts& app, bool learned_offset = true) const;
  Match sys_server_by_pid(const SpanFacts& app) const;
  Match app_client_for(const SpanFacts& call) const;
  const SpanFacts* innermost_app_span(const SpanFacts& server, const SpanFacts& call,
                                      ResolvePath& path) const;
  const SpanFacts* app_server_partner(const SpanFacts& app) const;

  // Process identity across the two views: the SDK's (namespaced pid, or only its resource) and the
  // probes' (host pid).
  bool same_process(const SpanFacts& app, const SpanFacts& sys) const;
  bool app_process_known(const SpanFacts& app) const;
  bool thread_multiplexes(const SpanFacts& server) const;
  // Whether the SDK trace above `span_id` is complete here (its local root or a sys span reached).
  bool trace_settled(const std::string& span_id) const;
  bool app_may_claim(const SpanFacts& sys_span) const;
  // Whether the request facts of a sys span (SpanFacts::request_facts_read) may serve a link: an SDK's
  // spans came within the SDKs' horizon, or may still claim this one (app_may_claim, a server not seen
  // before), or it may be kept as its process's sample. On a node without SDK traffic, most sys spans
  // are spared reading them: a quarter of the assembler's time.
  bool wants_request_facts(const SpanFacts& f) const;
  // Reads a compact span's request facts after it was indexed, and indexes what depends on them.
  void add_request_facts(SpanFacts& f, const SysSpanGroup& group, const SysSpan& span);
  // The index entries that depend on the request facts: a sys CLIENT call by its call key, a server's
  // request (of those in the SDKs' indexes) by method and target.
  void index_by_call(const SpanFacts& f);
  void index_by_request(const SpanFacts& f);
  // How long SDK spans may come after the spans they link to (the facts' second horizon).
  Clock::duration sdk_horizon_length() const;
  // Whether a span of an SDK, arriving late, may still link to this emitted span's fact.
  bool fact_wanted_by_late_app_spans(const SpanFacts& f) const;
  // Whether a span of the same TCP exchange (the other end, a net span) still waits to be linked: it may
  // link to this fact however long it waits (an SDK's trace can hold it up to max_link_wait).
  bool partner_still_waiting(const SpanFacts& f) const;
  bool keep_as_sample(const SpanFacts& f);
  // Whether an emitted sys span's fact can serve no partner any more: both ends of its exchange are in and
  // gone (or the other end was this node's to deliver and did not come), and no net span, other agent's
  // span, SDK span or call of its thread can still come for it.
  bool nothing_left_to_link(const SpanFacts& f) const;
  // The same, but for an SDK's late spans, which may still claim it (fact_wanted_by_late_app_spans).
  bool nothing_but_an_sdk_left_to_link(const SpanFacts& f) const;
  // Forgets (or keeps as a sample) the facts of `emitted` spans, and of their exchanges' other ends, that
  // nothing is left to link to.
  void settle(const std::vector<std::uint64_t>& emitted);  // span keys (span_id_map.h)
  // Whether a fact an SDK may claim can stay for it (kMaxLateFactsOfUnknownProcess), counted if so.
  bool admit_late_fact(SpanFacts& f);
  void release_late_fact(SpanFacts& f);
  std::chrono::nanoseconds wait_budget(const SpanFacts& f, Clock::time_point now) const;

  AssemblerOptions options_;
  AssembledBatchSink sink_;
  MetricsRegistry& metrics_;
  // Counters of the per-span path, looked up in the registry once.
  Counter& unlinked_sys_clients_;
  Counter& settled_facts_;
  Counter& facts_beyond_bound_;  // of servers not known to run an SDK, beyond kMaxLateFactsOfUnknownProcess
  HashMap<const char*, Counter*> links_by_rule_;  // rule names are literals (docs/linking.md)
  std::map<std::uint64_t, Pending> pending_;  // by arrival sequence number
  std::uint64_t next_batch_seq_ = 1;
  Clock::time_point last_net_span_{};  // packet capture on: a server end waits for the net spans between
  Clock::time_point last_sys_span_{};
  Clock::time_point last_app_span_{};  // (not from a peer agent)
  // This node's socket addresses, learned from the sys spans' local ends (pod IPs included) within the
  // last one or two link windows, and how long a span whose partner comes from here waits for it: the probes'
  // consumer flushes every 100 ms, so a partner not in after a second was dropped (ring buffer full) or never
  // traced.
  // Two generations: the current one, and the one before the last sweep.
  HashSet<std::string> local_addresses_, earlier_local_addresses_;
  std::string last_local_address_;  // the last one inserted into local_addresses_ (since it was cleared)
  static constexpr std::chrono::milliseconds kLocalPartnerWait{1000};
  static constexpr std::size_t kMaxLocalAddresses = 65536;
  std::atomic<bool> expect_sys_spans_{true};
  std::size_t buffered_spans_ = 0;
  // Wall clock minus steady clock at start: app span lag is measured against span end times (wall).
  std::int64_t wall_minus_steady_ns_ = 0;

  SpanIdMap<SpanFacts> facts_;
  // Span ids in arrival order, for forgetting: every fact first waits out the partners' horizon in
  // fact_order_; those an SDK's late spans may still claim then wait out the SDK horizon in late_fact_order_.
  // (span keys: span_id_map.h)
  std::deque<std::uint64_t> fact_order_;
  std::deque<std::uint64_t> late_fact_order_;
  std::deque<std::uint64_t> sampled_fact_order_;
  // Facts of processes without an SDK kept past the partners' horizon, per host pid and second: if an SDK
  // does run there and its first spans come later than its wait, they still find partners, so the join
  // learns the process (and its later spans wait) and counts the late ones.
  struct SampledSecond {
    std::int64_t second = 0;
    std::uint32_t kept = 0;
  };
  static constexpr std::uint32_t kSampledFactsPerSecond = 8;
  // Facts a server process not yet known either way keeps for late SDK spans (beyond them, the samples),
  // from the moment its span left: a busy server without an SDK (nginx at 70k requests/s) would otherwise
  // hold ~230k facts (~370 MB) within the partners' window alone, and its first 13 s of requests until its
  // wait ends. A process known to run an SDK has no such bound.
  static constexpr std::size_t kMaxLateFactsOfUnknownProcess = 16384;
  HashMap<std::int64_t, std::size_t> late_facts_by_pid_;  // sys facts counted_as_late
  HashMap<std::int64_t, SampledSecond> sampled_facts_by_pid_;
  // sys CLIENT spans not yet emitted, by thread link key (pid/syscall trace id): the request their thread
  // served must stay findable for them.
  HashMap<std::uint64_t, std::uint32_t> waiting_thread_clients_;  // by thread_link_key
  // Emitted spans a late SDK root may split (splittable_by_late_root), per exported trace id, by the id's
  // hash: a key of a word, where a 16-byte id string was an allocation per request (a collision could
  // only miscount the late-split metric).
  HashMap<std::uint64_t, std::size_t> frozen_by_trace_;

  // Indexes (values are span ids; a dangling id resolves to nothing). A fact's entries leave with it
  // (unindex_span). Lists are deques in arrival order: the entry that leaves is nearly always the first;
  // one that leaves out of order dangles until the entries before it leave.
  using SpanIdList = std::deque<std::string>;
  // The three one-span indexes every sys span goes into name their span by its key (span_id_map.h), in
  // flat tables: an id string in a node was an allocation per entry, 1.5 per sys span.
  FlatHashMap<std::uint64_t, std::uint64_t> sys_client_by_tcp_;  // by tcp_hash
  FlatHashMap<std::uint64_t, std::uint64_t> sys_server_by_tcp_;
  HashMap<std::uint64_t, SpanIdList> net_by_tcp_;
  FlatHashMap<std::uint64_t, std::uint64_t> sys_server_by_thread_link_;  // thread_link_key
  HashMap<std::string, SpanIdList> sys_servers_by_header_;
  TimeIndex<std::uint64_t> sys_servers_by_connection_;  // connection_key(peer, port)
  TimeIndex<std::uint64_t> sys_servers_by_request_;     // request_key(method, target)
  TimeIndex<std::int64_t> sys_servers_by_ns_pid_;
  HashMap<std::string, SpanIdList> app_spans_by_trace_;
  HashMap<std::string, SpanIdList> app_clients_by_call_;
  HashMap<std::string, SpanIdList> sys_clients_by_call_;  // sys CLIENT calls by call_key
  HashMap<std::string, std::string> app_roots_by_trace_;  // root app SERVER spans
  HashSet<std::string> traces_with_app_root_;             // any parentless app span seen
  // Threads that read a request before answering the previous one (event loops): their thread links
  // name whichever request came last, so they are not trusted. pid << 32 | tid -> the request seen to
  // end last on that thread, and its connection.
  struct LatestRequest {
    std::uint64_t end_ns = 0;
    std::uint64_t connection = 0;  // hash of peer address and port, local port
  };
  HashMap<std::uint64_t, LatestRequest> thread_latest_request_;
  HashSet<std::uint64_t> multiplexing_threads_;
  // What the join taught about SDK processes: resource -> host pids, and the host pids that run an SDK.
  HashMap<std::string, HashSet<std::int64_t>> pids_by_resource_;
  HashMap<std::int64_t, std::string> service_by_pid_;
  // Host pids with sys SERVER spans, and when the first one was seen (to tell SDK-less servers).
  HashMap<std::int64_t, Clock::time_point> server_pids_first_seen_;
  AppLag app_lag_;
  // How far each SDK process's clock is off the kernel's (app minus sys, at the end of joined SERVER
  // spans: the SDK ends its span right after the response's last write), by resource: the median of the
  // last samples.
  class ClockOffset {
   public:
    void add(std::int64_t sample) {
      samples_[next_++ % samples_.size()] = sample;
      count_ = std::min(count_ + 1, samples_.size());
    }
    // One join is no measurement: a process's first requests run cold (Node's first one ends 10+ ms after
    // its last write while the JIT warms up), and an offset taken from it alone would shut out every later
    // join. The median of several is.
    static constexpr std::size_t kMinSamples = 5;
    bool known() const { return count_ >= kMinSamples; }
    std::int64_t estimate() const {
      std::array<std::int64_t, 16> sorted = samples_;
      std::sort(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(count_));
      return sorted[count_ / 2];
    }

   private:
    std::array<std::int64_t, 16> samples_{};
    std::size_t next_ = 0, count_ = 0;
  };
  HashMap<std::string, ClockOffset> clock_offsets_;
  std::uint64_t app_generation_ = 0;  // counts batches of SDK spans (what held spans wait for)
  Clock::time_point now_{};  // of the latest add() or poll(), for the rules' time-dependent questions
  Clock::time_point last_forget_{};
  MemoryCharge facts_charge_;  // the facts and their indexes, estimated per fact
};

// Runs the assembler on its own thread, fed by the pipeline; stops when the pipeline is closed and drained.
class AssemblerStage {
 public:
  AssemblerStage(SpanPipeline& pipeline, TraceAssembler& assembler);
  ~AssemblerStage();
  AssemblerStage(const AssemblerStage&) = delete;
  AssemblerStage& operator=(const AssemblerStage&) = delete;

  // Blocks until the pipeline is drained and everything is emitted (call after SpanPipeline::close()).
  void join();

 private:
  void run();
  SpanPipeline& pipeline_;
  TraceAssembler& assembler_;
  std::thread thread_;
};

// Sets a string attribute on a span, replacing an existing one with the same key.
void set_span_attribute(otlp::Span& span, const std::string& key, const std::string& value);
// The attribute's value, or nullptr.
const otlp::AnyValue* find_attribute(const google::protobuf::RepeatedPtrField<otlp::KeyValue>& attributes,
                                     std::string_view key);

}  // namespace otelbpf
