{
  "targets": [
    {
      "target_name": "semedit_native",
      "sources": ["src/addon/addon.cc", "src/addon/conv.cc", "src/addon/matmul.cc", "src/addon/eltwise.cc", "src/addon/reduce.cc", "src/addon/attention.cc", "src/addon/norm.cc", "src/addon/pack.cc", "src/addon/layout.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<!@(node scripts/onednn-flags.mjs include)"],
      "libraries": ["<!@(node scripts/onednn-flags.mjs libs)"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "<!@(node scripts/onednn-flags.mjs cflags)", "-fopenmp", "-fexceptions"],
      "ldflags": ["-fopenmp"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-Xpreprocessor", "-fopenmp"]
      }
    }
  ]
}
