// gemini-key-manager: one client token in front of a pool of Gemini API keys.
#include "app/app.h"

int main(int argc, char** argv) { return gkm::RunApp(argc, argv); }
