// Free-running C++ harness of the Verilated radix4_array (the throughput
// reference of scripts/bench_driver.py; built and run by sim/reference.py).
//
// It keeps i__valid high with pseudo-random operands and formats, marks a
// beat `first` / `last` every K accepted beats (one K-deep GEMM per K beats),
// holds o__ready high, and runs CYCLES clock cycles as fast as Verilator
// can.  No checking: this measures how many beats per second the array
// model alone sustains, the ceiling for any driver of the same model.
//
// usage: array_harness K CYCLES [SEED]
// prints one line: cycles=<n> beats=<n> rows_out=<n> seconds=<s> checksum=<hex>
//
// ROWS, COLS, ACC_WIDTH are compile-time defines (-CFLAGS -DROWS=8 ...); the
// payload field positions and the format select codes come from
// radix4_array_layout.h, generated from the Amaranth layouts by
// sim/cxx_layout.py into the build directory (sim/reference.py).

#include "Vradix4_array.h"
#include "verilated.h"
#include "radix4_array_layout.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>

// Verilator escapes "__" in port names as "___05F".
#define I_VALID i___05Fvalid
#define I_READY i___05Fready
#define I_PAYLOAD i___05Fpayload
#define O_VALID o___05Fvalid
#define O_READY o___05Fready
#define O_PAYLOAD o___05Fpayload

#ifndef ROWS
#error "define ROWS"
#endif
#ifndef COLS
#error "define COLS"
#endif

// k codes per PE input per beat (RADIX4_PE_LANES, from the header).
static_assert(IN_A_LANES == ROWS * RADIX4_PE_LANES && IN_B_LANES == COLS * RADIX4_PE_LANES,
              "layout header of another array size");
static constexpr unsigned kWords = (IN_WIDTH + 31) / 32;

// xorshift64*: cheap, so the harness measures the model, not the generator.
static inline uint64_t next_random(uint64_t& s) {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1DULL;
}

static inline void set_field(uint32_t* w, unsigned lsb, unsigned width, uint64_t value) {
    for (unsigned i = 0; i < width; ++i) {
        const unsigned bit = lsb + i;
        const uint32_t mask = 1u << (bit % 32);
        if ((value >> i) & 1) w[bit / 32] |= mask; else w[bit / 32] &= ~mask;
    }
}

// Copy a word buffer into a Verilated port of any width (IData, QData or VlWide).
template <typename T>
static inline void assign_port(T& port, const uint32_t* w) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t v = w[0];
        if constexpr (kWords > 1) v |= static_cast<uint64_t>(w[1]) << 32;
        port = static_cast<T>(v);
    } else {
        for (unsigned i = 0; i < kWords; ++i) port.at(i) = w[i];
    }
}

template <typename T>
static inline uint32_t low_word(const T& port) {
    if constexpr (std::is_integral_v<T>) return static_cast<uint32_t>(port);
    else return port.at(0);
}

// Random bits into a field of any width, 64 at a time.
static void random_field(uint32_t* w, uint64_t& rng, unsigned lsb, unsigned width) {
    for (unsigned bit = 0; bit < width; bit += 64) {
        const unsigned n = (width - bit) < 64 ? (width - bit) : 64;
        set_field(w, lsb + bit, n, next_random(rng));
    }
}

static void make_beat(uint32_t* w, uint64_t& rng, uint64_t beat, uint64_t k) {
    std::memset(w, 0, kWords * sizeof(uint32_t));
    random_field(w, rng, IN_A_LSB, IN_A_WIDTH);
    random_field(w, rng, IN_B_LSB, IN_B_WIDTH);
    const uint64_t r = next_random(rng);
    // Only select codes that name a format (reserved codes multiply by 0).
    set_field(w, IN_A_FMT_LSB, IN_A_FMT_WIDTH, RADIX4_A_FMT_CODES[(r >> 8) % RADIX4_A_FMT_COUNT]);
    set_field(w, IN_B_FMT_LSB, IN_B_FMT_WIDTH, RADIX4_B_FMT_CODES[(r >> 16) % RADIX4_B_FMT_COUNT]);
    set_field(w, IN_FIRST_LSB, 1, beat % k == 0);
    set_field(w, IN_LAST_LSB, 1, beat % k == k - 1);
}

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s K CYCLES [SEED]\n", argv[0]);
        return 2;
    }
    const uint64_t k = std::strtoull(argv[1], nullptr, 10);
    const uint64_t cycles = std::strtoull(argv[2], nullptr, 10);
    uint64_t rng = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1;
    if (k == 0 || cycles == 0) {
        std::fprintf(stderr, "K and CYCLES must be positive\n");
        return 2;
    }
    rng = rng * 0x9E3779B97F4A7C15ULL + 1;

    auto* ctx = new VerilatedContext;
    auto* top = new Vradix4_array{ctx};
    uint32_t words[kWords];

    top->clk = 0;
    top->rst = 1;
    top->I_VALID = 0;
    top->O_READY = 1;
    for (int i = 0; i < 4; ++i) {
        top->clk = 0; top->eval();
        top->clk = 1; top->eval();
    }
    top->rst = 0;

    uint64_t beats = 0, rows_out = 0;
    uint32_t checksum = 0;
    make_beat(words, rng, beats, k);
    assign_port(top->I_PAYLOAD, words);
    top->I_VALID = 1;

    const auto t0 = std::chrono::steady_clock::now();
    for (uint64_t c = 0; c < cycles; ++c) {
        top->clk = 0;
        top->eval();
        // Handshakes complete on the coming rising edge.
        const bool accepted = top->I_READY;
        if (top->O_VALID) {
            ++rows_out;
            checksum = (checksum * 31u) ^ low_word(top->O_PAYLOAD);
        }
        top->clk = 1;
        top->eval();
        if (accepted) {
            ++beats;
            make_beat(words, rng, beats, k);
            assign_port(top->I_PAYLOAD, words);
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::printf("cycles=%llu beats=%llu rows_out=%llu seconds=%.6f checksum=%08x\n",
                static_cast<unsigned long long>(cycles), static_cast<unsigned long long>(beats),
                static_cast<unsigned long long>(rows_out), seconds, checksum);
    top->final();
    delete top;
    delete ctx;
    return 0;
}
