// libFuzzer target: whatever an images client sends, the images request translator answers
// with a translation or a TranslateError; whatever Google answers (as Imagen or as a Gemini
// image model), the answer reader and the reply builder do the same — never a crash, hang,
// leak or read out of bounds. Built and run by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "translate/images.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto request = gkm::TranslateImagesRequest(input);
  gkm::ImagesRequest req;
  if (auto* r = std::get_if<gkm::ImagesRequest>(&request)) req = *r;
  req.data_url = size % 2 == 0;
  for (gkm::ImageModelKind kind : {gkm::ImageModelKind::kImagen, gkm::ImageModelKind::kGemini}) {
    gkm::ImagesAnswer answer;
    (void)gkm::ReadImagesAnswer(input, kind, answer);
    (void)gkm::ReadImagesAnswer(input, kind, answer);
    (void)gkm::BuildImagesReply(answer, req, 1);
  }
  return 0;
}
