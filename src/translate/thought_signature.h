// Carrying Gemini's thought signatures through clients that keep only what their own API
// has (WIRE-AGENTS D4), shared by every agent surface (Anthropic Messages, OpenAI Responses).
//
// Gemini 2.5+/3 attach a `thoughtSignature` to parts of a model turn and, for Gemini 3,
// refuse a history whose current turn lacks the one on a function call. Clients of other
// APIs have no place for it, but they always send back the ids of tool calls: the signature
// rides inside the id (`toolu_abc__gs_<base64url of the signature>`), which matches
// `^[a-zA-Z0-9_-]+$` as the clients require. A call whose signature was lost gets Google's
// documented bypass value instead of a 400.
//
// Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gkm {

// Google's documented value for a function call whose signature is unknown.
inline constexpr std::string_view kSkipThoughtSignature = "skip_thought_signature_validator";

// `id` with `signature` carried inside it; `id` unchanged when the signature is empty.
std::string IdWithSignature(std::string_view id, std::string_view signature);

struct IdParts {
  std::string id;                        // the id as the client knows it, signature included
  std::optional<std::string> signature;  // what IdWithSignature put in, if anything
};
// The signature carried in an id made by IdWithSignature (nullopt for any other id).
IdParts SplitSignatureId(std::string_view id);

// base64url (RFC 4648 section 5) without padding, and back (nullopt for anything else).
std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace gkm
