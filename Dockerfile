# otelbpf-agent image: build on Debian bookworm, run on bookworm-slim with only the runtime libraries.
# Build where a Docker engine runs:  docker build -t otelbpf-agent .
# vmlinux.h is generated from the BTF of the build host (/sys/kernel/btf/vmlinux, readable in a build
# container); CO-RE relocations make the resulting probes load on other kernels. Pass BTF=<path> to use
# a BTF file copied into the build context instead.

FROM debian:bookworm AS build
ARG BTF=/sys/kernel/btf/vmlinux
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config clang llvm \
      libbpf-dev bpftool libelf-dev zlib1g-dev libzstd-dev \
      libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc \
      libboost-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev libsimdjson-dev libjemalloc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY bpf bpf
COPY proto proto
COPY config config
COPY userspace userspace
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DOTELBPF_BUILD_TESTS=OFF -DOTELBPF_BUILD_BENCH=OFF \
      -DOTELBPF_VMLINUX_BTF="${BTF}" \
 && cmake --build build \
 && strip build/otelbpf-agent

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libbpf1 libelf1 libprotobuf32 libgrpc++1.51 libyaml-cpp0.7 libspdlog1.10 libfmt9 libsimdjson14 \
      libjemalloc2 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/otelbpf-agent /usr/bin/otelbpf-agent
COPY config/otelbpf.yaml /etc/otelbpf/otelbpf.yaml
# OTLP/HTTP (+ /metrics, /healthz, /readyz) and OTLP/gRPC.
EXPOSE 38086 4317
ENTRYPOINT ["/usr/bin/otelbpf-agent"]
CMD ["--config", "/etc/otelbpf/otelbpf.yaml"]
