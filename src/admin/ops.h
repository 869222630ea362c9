// The operational endpoints (SPEC 3.5): /healthz, /metrics, /admin/keys, /admin/clients,
// /admin/reload,
// /admin/keys/{id}/reset. Each builds a whole response from a snapshot of the pool; none
// does I/O. Never prints a key except masked.
#pragma once

#include <string>

#include "admin/metrics.h"
#include "keypool/key_pool.h"

namespace gkm {

// RFC 3339 in UTC with a Z ("2026-11-28T08:00:00Z").
std::string Rfc3339(TimePoint t);

// The /admin/keys document.
std::string AdminKeysJson(const PoolView& view);

// The /admin/capacity document (SPEC 3.9): per model, per project, limits in force and
// learned, used and left today, today's rate and when the known budget runs out at it.
std::string AdminCapacityJson(const CapacityView& view, TimePoint now);

// The /admin/clients document: each client's limits and its usage this quota day and minute.
std::string AdminClientsJson(const std::vector<ClientView>& clients);

}  // namespace gkm
