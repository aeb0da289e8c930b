// vmtest: the traffic tool of the QEMU end-to-end test (scripts/qemu_e2e.sh). Built twice: static
// for the guest's initramfs, and natively for the host side, which runs it in the network
// namespace that holds pmdnetd's tap. Plain C and the C library only, so the guest needs nothing
// else.
//
//   vmtest tcp-send ADDR PORT BYTES SEED [MBPS]  connects (retrying for 20 s), sends BYTES of
//                                            the pseudo-random stream SEED (paced at MBPS
//                                            megabytes per second when given), closes
//   vmtest tcp-recv PORT CAPACITY            accepts one connection, reads until EOF into memory
//                                            (at most CAPACITY bytes), then hashes it
//   vmtest udp-send ADDR PORT COUNT SEED [GSO]  COUNT datagrams of mixed sizes (16 .. 65507 bytes);
//                                            with GSO, COUNT segments of GSO bytes sent as
//                                            UDP_SEGMENT super-datagrams (USO where the device
//                                            has it, the kernel's software GSO otherwise)
//   vmtest udp-recv PORT SEED EXPECT IDLE_MS  receives until EXPECT datagrams came or none came
//                                            for IDLE_MS, checking every byte of each
//   vmtest sha STREAM_BYTES SEED             the sha256 of a stream, without sending it
//   vmtest udp-echo PORT SECONDS             sends every datagram back to where it came from
//   vmtest udp-probe ADDR PORT SECONDS MS    one small datagram every MS milliseconds to an
//                                            udp-echo, timing the replies: the longest silence
//                                            (when it began and ended, CLOCK_MONOTONIC) shows
//                                            how long the path was down and when it came back
//
// Every command prints one line "RESULT <command> key=value ..." (and "LISTENING" when a
// receiver is ready); the exit code is 0 when the command itself succeeded. The data checks are
// the caller's: it compares the sender's and the receiver's sha256 and counts.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

// ---- sha256 (FIPS 180-4) ----
typedef struct {
  uint32_t h[8];
  uint64_t len;
  uint8_t buf[64];
  size_t used;
} sha256_ctx;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(sha256_ctx* c, const uint8_t* p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++) {
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           p[4 * i + 3];
  }
  for (int i = 16; i < 64; i++) {
    const uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5],
           g = c->h[6], h = c->h[7];
  for (int i = 0; i < 64; i++) {
    const uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    const uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = cc;
    cc = b;
    b = a;
    a = t1 + t2;
  }
  c->h[0] += a;
  c->h[1] += b;
  c->h[2] += cc;
  c->h[3] += d;
  c->h[4] += e;
  c->h[5] += f;
  c->h[6] += g;
  c->h[7] += h;
}

static void sha256_init(sha256_ctx* c) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(c->h, iv, sizeof(iv));
  c->len = 0;
  c->used = 0;
}

static void sha256_update(sha256_ctx* c, const uint8_t* p, size_t n) {
  c->len += n;
  if (c->used) {
    const size_t take = n < 64 - c->used ? n : 64 - c->used;
    memcpy(c->buf + c->used, p, take);
    c->used += take;
    p += take;
    n -= take;
    if (c->used < 64) return;
    sha256_block(c, c->buf);
    c->used = 0;
  }
  for (; n >= 64; n -= 64, p += 64) sha256_block(c, p);
  memcpy(c->buf, p, n);
  c->used = n;
}

static void sha256_hex(sha256_ctx* c, char out[65]) {
  const uint64_t bits = c->len * 8;
  uint8_t pad = 0x80;
  sha256_update(c, &pad, 1);
  pad = 0;
  while (c->used != 56) sha256_update(c, &pad, 1);
  uint8_t l[8];
  for (int i = 0; i < 8; i++) l[i] = (uint8_t)(bits >> (56 - 8 * i));
  sha256_update(c, l, 8);
  for (int i = 0; i < 8; i++) sprintf(out + 8 * i, "%08x", c->h[i]);
  out[64] = 0;
}

// ---- the pseudo-random streams (xorshift64*) ----
static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static void fill(uint8_t* p, size_t n, uint64_t seed) {
  uint64_t s = mix(seed) | 1;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    const uint64_t v = s * 0x2545f4914f6cdd1dULL;
    memcpy(p + i, &v, 8);
  }
  for (; i < n; i++) p[i] = (uint8_t)(mix(seed + i) & 0xff);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_addr(const char* host, int port, struct sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof(*ss));
  struct sockaddr_in* a4 = (struct sockaddr_in*)ss;
  struct sockaddr_in6* a6 = (struct sockaddr_in6*)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof(*a4);
    return AF_INET;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *len = sizeof(*a6);
    return AF_INET6;
  }
  fprintf(stderr, "vmtest: bad address %s\n", host);
  exit(2);
}

// A dual-stack listening or bound socket on PORT.
static int bound_socket(int type, int port) {
  const int fd = socket(AF_INET6, type, 0);
  if (fd < 0) {
    perror("socket");
    exit(1);
  }
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof(a));
  a.sin6_family = AF_INET6;
  a.sin6_port = htons((uint16_t)port);
  a.sin6_addr = in6addr_any;
  if (bind(fd, (struct sockaddr*)&a, sizeof(a)) != 0) {
    perror("bind");
    exit(1);
  }
  return fd;
}

static void set_timeouts(int fd, int seconds) {
  struct timeval tv = {.tv_sec = seconds, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static uint64_t num(const char* s) { return strtoull(s, NULL, 0); }

// ---- TCP ----
static int tcp_send(const char* host, int port, uint64_t bytes, uint64_t seed, double mbps) {
  uint8_t* data = malloc(bytes ? bytes : 1);
  if (!data) {
    fprintf(stderr, "vmtest: cannot allocate %llu bytes\n", (unsigned long long)bytes);
    return 1;
  }
  double t = now();
  fill(data, bytes, seed);
  sha256_ctx c;
  sha256_init(&c);
  sha256_update(&c, data, bytes);
  char hex[65];
  sha256_hex(&c, hex);
  const double prep = now() - t;

  struct sockaddr_storage ss;
  socklen_t len;
  const int family = parse_addr(host, port, &ss, &len);
  int fd = -1;
  const double deadline = now() + 20;
  for (;;) {
    fd = socket(family, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr*)&ss, len) == 0) break;
    const int e = errno;
    close(fd);
    if (now() > deadline) {
      fprintf(stderr, "vmtest: connect: %s\n", strerror(e));
      return 1;
    }
    usleep(100000);
  }
  set_timeouts(fd, 60);
  const double start = now();
  uint64_t sent = 0;
  while (sent < bytes) {
    const size_t max_chunk = mbps > 0 ? 65536 : 262144;
    const size_t chunk = bytes - sent < max_chunk ? (size_t)(bytes - sent) : max_chunk;
    const ssize_t n = send(fd, data + sent, chunk, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "vmtest: send after %llu bytes: %s\n", (unsigned long long)sent,
              strerror(errno));
      break;
    }
    sent += (uint64_t)n;
    if (mbps > 0) {  // paced: never ahead of MBPS megabytes per second since the start
      const double due = start + (double)sent / (mbps * 1e6);
      const double ahead = due - now();
      if (ahead > 0) usleep((useconds_t)(ahead * 1e6));
    }
  }
  shutdown(fd, SHUT_WR);
  // Wait for the receiver's close, so the time covers delivery, not just the socket buffer.
  char sink[256];
  while (recv(fd, sink, sizeof(sink), 0) > 0) {
  }
  const double secs = now() - start;
  close(fd);
  printf("RESULT tcp-send bytes=%llu sha256=%s seconds=%.3f mbps=%.1f prep_seconds=%.2f\n",
         (unsigned long long)sent, hex, secs, secs > 0 ? (double)sent * 8 / secs / 1e6 : 0.0,
         prep);
  free(data);
  return sent == bytes ? 0 : 1;
}

static int tcp_recv(int port, uint64_t capacity) {
  uint8_t* data = malloc(capacity ? capacity : 1);
  if (!data) {
    fprintf(stderr, "vmtest: cannot allocate %llu bytes\n", (unsigned long long)capacity);
    return 1;
  }
  const int lfd = bound_socket(SOCK_STREAM, port);
  if (listen(lfd, 1) != 0) {
    perror("listen");
    return 1;
  }
  printf("LISTENING\n");
  fflush(stdout);
  const int fd = accept(lfd, NULL, NULL);
  if (fd < 0) {
    perror("accept");
    return 1;
  }
  close(lfd);
  set_timeouts(fd, 60);
  uint64_t got = 0, overflow = 0;
  double first = 0, last = 0, max_gap = 0, gap_start = 0, gap_end = 0;
  int error = 0;
  for (;;) {
    uint8_t spill[65536];
    uint8_t* dst = got < capacity ? data + got : spill;
    size_t room = got < capacity ? (size_t)(capacity - got) : sizeof(spill);
    if (room > 1 << 20) room = 1 << 20;
    const ssize_t n = recv(fd, dst, room, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      fprintf(stderr, "vmtest: recv after %llu bytes: %s\n", (unsigned long long)got,
              strerror(errno));
      error = 1;
      break;
    }
    if (n == 0) break;
    const double t = now();
    if (first == 0) {
      first = t;
    } else if (t - last > max_gap) {
      max_gap = t - last;
      gap_start = last;
      gap_end = t;
    }
    last = t;
    if (dst == spill) overflow += (uint64_t)n;
    got += (uint64_t)n;
  }
  close(fd);
  sha256_ctx c;
  sha256_init(&c);
  sha256_update(&c, data, got - overflow);
  char hex[65];
  sha256_hex(&c, hex);
  const double secs = last - first;
  printf("RESULT tcp-recv bytes=%llu sha256=%s seconds=%.3f mbps=%.1f max_gap_ms=%.0f "
         "gap_start=%.3f gap_end=%.3f first=%.3f last=%.3f overflow=%llu\n",
         (unsigned long long)got, hex, secs, secs > 0 ? (double)got * 8 / secs / 1e6 : 0.0,
         max_gap * 1000, gap_start, gap_end, first, last, (unsigned long long)overflow);
  free(data);
  return error || overflow ? 1 : 0;
}

// ---- UDP ----
// A datagram: magic, sequence, size (little-endian u32 each), then the payload of stream
// (seed, sequence). The receiver rebuilds the payload and compares every byte.
enum { kHeader = 12, kMagic = 0x766d7431 /* "vmt1" */ };
static const uint32_t kSizes[] = {16,   17,   64,   100,  255,  512,   1000,  1400,  1471,
                                  1472, 1473, 2000, 4000, 8000, 9000, 16384, 32768, 65507};
enum { kSizeCount = sizeof(kSizes) / sizeof(kSizes[0]) };

static void put32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
static uint32_t get32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void build_datagram(uint8_t* p, uint32_t size, uint32_t seq, uint64_t seed) {
  put32(p, kMagic);
  put32(p + 4, seq);
  put32(p + 8, size);
  fill(p + kHeader, size - kHeader, seed * 1000003ULL + seq);
}

static int udp_send(const char* host, int port, uint32_t count, uint64_t seed, uint32_t gso) {
  struct sockaddr_storage ss;
  socklen_t len;
  const int family = parse_addr(host, port, &ss, &len);
  const int fd = socket(family, SOCK_DGRAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&ss, len) != 0) {
    perror("udp connect");
    return 1;
  }
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
  static uint8_t buf[65536];
  uint64_t bytes = 0, errors = 0, calls = 0;
  const double start = now();
  uint64_t paced = 0;
  if (gso) {
    if (gso < kHeader || gso > 8000) {
      fprintf(stderr, "vmtest: gso %u out of range\n", gso);
      return 2;
    }
    int g = (int)gso;
    if (setsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &g, sizeof(g)) != 0) {
      perror("setsockopt UDP_SEGMENT");
      return 1;
    }
    const uint32_t per = 60000 / gso < 64 ? 60000 / gso : 64;
    for (uint32_t seq = 0; seq < count;) {
      uint32_t n = 0;
      for (; n < per && seq < count; n++, seq++) build_datagram(buf + n * gso, gso, seq, seed);
      if (send(fd, buf, (size_t)n * gso, 0) < 0) errors++;
      bytes += (uint64_t)n * gso;
      calls++;
      paced += (uint64_t)n * gso;
      if (paced >= 256 * 1024) {  // about 4 ms per 256 KB: well inside every buffer on the way
        usleep(4000);
        paced = 0;
      }
    }
  } else {
    for (uint32_t seq = 0; seq < count; seq++) {
      const uint32_t size = kSizes[seq % kSizeCount];
      build_datagram(buf, size, seq, seed);
      if (send(fd, buf, size, 0) < 0) errors++;
      bytes += size;
      calls++;
      paced += size;
      if (paced >= 128 * 1024) {
        usleep(4000);
        paced = 0;
      }
    }
  }
  const double secs = now() - start;
  close(fd);
  printf("RESULT udp-send datagrams=%u bytes=%llu sends=%llu send_errors=%llu gso=%u seconds=%.3f\n",
         count, (unsigned long long)bytes, (unsigned long long)calls, (unsigned long long)errors,
         gso, secs);
  return 0;
}

static int udp_recv(int port, uint64_t seed, uint32_t expect, int idle_ms) {
  const int fd = bound_socket(SOCK_DGRAM, port);
  int rcvbuf = 32 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
  uint8_t* seen = calloc(expect ? expect : 1, 1);
  static uint8_t buf[65536], want[65536];
  uint32_t good = 0, corrupt = 0, dup = 0, foreign = 0;
  uint64_t bytes = 0;
  uint32_t size_hits[kSizeCount] = {0};
  uint32_t other_sizes = 0;
  printf("LISTENING\n");
  fflush(stdout);
  // Wait up to 60 s for the first datagram, then up to idle_ms between datagrams.
  struct timeval tv = {.tv_sec = 60, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const double start = now();
  double first = 0, last = 0;
  while (good < expect) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // the idle timeout
    }
    if (first == 0) {
      first = now();
      tv.tv_sec = idle_ms / 1000;
      tv.tv_usec = (idle_ms % 1000) * 1000;
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    last = now();
    if (n < kHeader || get32(buf) != kMagic) {
      foreign++;
      continue;
    }
    const uint32_t seq = get32(buf + 4), size = get32(buf + 8);
    if (size != (uint32_t)n || seq >= expect) {
      corrupt++;
      continue;
    }
    build_datagram(want, size, seq, seed);
    if (memcmp(want, buf, size) != 0) {
      corrupt++;
      continue;
    }
    if (seen[seq]) {
      dup++;
      continue;
    }
    seen[seq] = 1;
    good++;
    bytes += (uint64_t)n;
    int known = 0;
    for (int i = 0; i < kSizeCount; i++) {
      if (kSizes[i] == size) {
        size_hits[i]++;
        known = 1;
      }
    }
    if (!known) other_sizes++;
  }
  int sizes_seen = 0;
  for (int i = 0; i < kSizeCount; i++) sizes_seen += size_hits[i] > 0;
  const double secs = last > first ? last - first : 0;
  printf("RESULT udp-recv expected=%u good=%u lost=%u corrupt=%u duplicate=%u foreign=%u "
         "bytes=%llu sizes_seen=%d/%d other_sizes=%u seconds=%.3f waited=%.3f\n",
         expect, good, expect - good, corrupt, dup, foreign, (unsigned long long)bytes,
         sizes_seen, kSizeCount, other_sizes, secs, now() - start);
  free(seen);
  return 0;
}

static int sha_only(uint64_t bytes, uint64_t seed) {
  uint8_t* data = malloc(bytes ? bytes : 1);
  if (!data) return 1;
  fill(data, bytes, seed);
  sha256_ctx c;
  sha256_init(&c);
  sha256_update(&c, data, bytes);
  char hex[65];
  sha256_hex(&c, hex);
  printf("RESULT sha bytes=%llu sha256=%s\n", (unsigned long long)bytes, hex);
  free(data);
  return 0;
}

// ---- the path probe ----
static int udp_echo(int port, int seconds) {
  const int fd = bound_socket(SOCK_DGRAM, port);
  struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  printf("LISTENING\n");
  fflush(stdout);
  const double end = now() + seconds;
  uint64_t echoed = 0;
  while (now() < end) {
    uint8_t buf[2048];
    struct sockaddr_storage from;
    socklen_t len = sizeof(from);
    const ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr*)&from, &len);
    if (n <= 0) continue;
    if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr*)&from, len) == n) echoed++;
  }
  printf("RESULT udp-echo echoed=%llu\n", (unsigned long long)echoed);
  return 0;
}

static int udp_probe(const char* host, int port, int seconds, int interval_ms) {
  struct sockaddr_storage ss;
  socklen_t len;
  const int family = parse_addr(host, port, &ss, &len);
  const int fd = socket(family, SOCK_DGRAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&ss, len) != 0) {
    perror("udp connect");
    return 1;
  }
  struct timeval tv = {.tv_sec = 0, .tv_usec = 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const double start = now(), end = start + seconds;
  double next = start, last_reply = 0, max_gap = 0, gap_start = 0, gap_end = 0, first_reply = 0;
  uint64_t sent = 0, replies = 0, seq = 0;
  while (now() < end) {
    if (now() >= next) {
      uint8_t msg[16];
      memcpy(msg, &seq, 8);
      seq++;
      if (send(fd, msg, sizeof(msg), 0) == (ssize_t)sizeof(msg)) sent++;
      next += interval_ms / 1000.0;
    }
    uint8_t buf[64];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) continue;
    const double t = now();
    replies++;
    if (first_reply == 0) first_reply = t;
    if (last_reply > 0 && t - last_reply > max_gap) {
      max_gap = t - last_reply;
      gap_start = last_reply;
      gap_end = t;
    }
    last_reply = t;
  }
  printf("RESULT udp-probe sent=%llu replies=%llu max_gap_ms=%.0f gap_start=%.3f gap_end=%.3f "
         "first_reply=%.3f last_reply=%.3f\n",
         (unsigned long long)sent, (unsigned long long)replies, max_gap * 1000, gap_start, gap_end,
         first_reply, last_reply);
  return 0;
}

static int usage(void) {
  fprintf(stderr,
          "usage: vmtest tcp-send ADDR PORT BYTES SEED [MBPS] | tcp-recv PORT CAPACITY |\n"
          "              udp-send ADDR PORT COUNT SEED [GSO] | udp-recv PORT SEED EXPECT IDLE_MS |\n"
          "              sha BYTES SEED | udp-echo PORT SECONDS | udp-probe ADDR PORT SECONDS MS\n");
  return 2;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) return usage();
  const char* cmd = argv[1];
  if (!strcmp(cmd, "tcp-send") && (argc == 6 || argc == 7)) {
    return tcp_send(argv[2], (int)num(argv[3]), num(argv[4]), num(argv[5]),
                    argc == 7 ? strtod(argv[6], NULL) : 0.0);
  }
  if (!strcmp(cmd, "tcp-recv") && argc == 4) return tcp_recv((int)num(argv[2]), num(argv[3]));
  if (!strcmp(cmd, "udp-send") && (argc == 6 || argc == 7)) {
    return udp_send(argv[2], (int)num(argv[3]), (uint32_t)num(argv[4]), num(argv[5]),
                    argc == 7 ? (uint32_t)num(argv[6]) : 0);
  }
  if (!strcmp(cmd, "udp-recv") && argc == 6) {
    return udp_recv((int)num(argv[2]), num(argv[3]), (uint32_t)num(argv[4]), (int)num(argv[5]));
  }
  if (!strcmp(cmd, "sha") && argc == 4) return sha_only(num(argv[2]), num(argv[3]));
  if (!strcmp(cmd, "udp-echo") && argc == 4) return udp_echo((int)num(argv[2]), (int)num(argv[3]));
  if (!strcmp(cmd, "udp-probe") && argc == 6) {
    return udp_probe(argv[2], (int)num(argv[3]), (int)num(argv[4]), (int)num(argv[5]));
  }
  return usage();
}
