// TxZeroCopy: external-buffer mbufs over guest transmit buffers, and their completions.
#include "pmd_backends/tx_zero_copy.h"

#include <rte_mbuf.h>

#include <algorithm>

namespace pmdnet {

// NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): slots_, a vector, value-initializes
struct TxZeroCopy::Slot {
  rte_mbuf_ext_shared_info shinfo;
  TxZeroCopy* owner;
  TxId id;
  uint32_t index;
};

bool zero_copy_capable(std::string_view driver_name) noexcept {
  return driver_name == "net_null" || driver_name == "net_tap" || driver_name == "net_af_packet";
}

TxZeroCopy::TxZeroCopy(size_t max_in_flight, size_t max_done)
    : slots_(std::max<size_t>(max_in_flight, 1)),
      done_(std::max(max_done, max_in_flight)),
      max_done_(std::max(max_done, max_in_flight)) {
  free_.reserve(slots_.size());
  for (size_t i = slots_.size(); i > 0; --i) {
    Slot& s = slots_[i - 1];
    s.owner = this;
    s.index = static_cast<uint32_t>(i - 1);
    s.shinfo.free_cb = &TxZeroCopy::on_free;
    s.shinfo.fcb_opaque = &s;
    free_.push_back(s.index);
  }
}

TxZeroCopy::~TxZeroCopy() = default;

rte_mbuf* TxZeroCopy::attach(TxId id, std::span<rte_mbuf* const> mbufs,
                             std::span<const std::span<uint8_t>> pieces) noexcept {
  Slot& s = slots_[free_.back()];
  free_.pop_back();
  ++in_flight_;
  s.id = id;
  rte_mbuf_ext_refcnt_set(&s.shinfo, static_cast<uint16_t>(pieces.size()));
  rte_mbuf* head = mbufs[0];
  rte_mbuf* prev = nullptr;
  uint32_t total = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    rte_mbuf* m = mbufs[i];
    const auto len = static_cast<uint16_t>(pieces[i].size());
    // The PMDs this is used with read through the virtual address; IOVA-as-VA for the record.
    rte_pktmbuf_attach_extbuf(
        m, pieces[i].data(), static_cast<rte_iova_t>(reinterpret_cast<uintptr_t>(pieces[i].data())),
        len, &s.shinfo);
    m->data_len = len;
    total += len;
    if (prev != nullptr) prev->next = m;
    prev = m;
  }
  head->nb_segs = static_cast<uint16_t>(pieces.size());
  head->pkt_len = total;
  return head;
}

void TxZeroCopy::on_free(void*, void* opaque) noexcept {
  auto* s = static_cast<Slot*>(opaque);
  TxZeroCopy* self = s->owner;
  self->done_.push_back(s->id);
  self->free_.push_back(s->index);
  --self->in_flight_;
}

size_t TxZeroCopy::poll(std::span<TxId> out) noexcept {
  const size_t n = std::min(out.size(), done_.size());
  for (size_t i = 0; i < n; ++i) out[i] = done_.pop_front();
  return n;
}

}  // namespace pmdnet
