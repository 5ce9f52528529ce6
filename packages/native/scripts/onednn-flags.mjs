// Prints the include directory or the linker flags of oneDNN for binding.gyp: `node onednn-flags.mjs include|libs`;
// `cflags` prints the code-generation flags: `-march=native` (the addon is built on the machine that runs it, and its
// own loops, softmax's exp among them, gain 2x from the wider vectors), or nothing with SEMEDIT_NATIVE_PORTABLE=1
// (a build to be copied to other machines).
// Looks in $DNNL_ROOT, /usr, /usr/local, /opt/homebrew, /opt/homebrew/opt/onednn, /usr/local/opt/onednn.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function findOneDnn() {
  const roots = [process.env.DNNL_ROOT, '/usr', '/usr/local', '/opt/homebrew/opt/onednn', '/usr/local/opt/onednn', '/opt/homebrew'].filter(Boolean);
  for (const root of roots) {
    if (!existsSync(join(root, 'include', 'oneapi', 'dnnl', 'dnnl.hpp'))) continue;
    for (const lib of ['lib/x86_64-linux-gnu', 'lib/aarch64-linux-gnu', 'lib', 'lib64']) {
      const dir = join(root, lib);
      if (['libdnnl.so', 'libdnnl.dylib'].some((f) => existsSync(join(dir, f)))) return { include: join(root, 'include'), lib: dir };
    }
  }
  return undefined;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const what = process.argv[2];
  if (what === 'cflags') {
    console.log(process.env.SEMEDIT_NATIVE_PORTABLE ? '-O3' : '-march=native');
    process.exit(0);
  }
  const found = findOneDnn();
  if (!found) {
    console.error('oneDNN not found (install libdnnl-dev, or set DNNL_ROOT)');
    process.exit(1);
  }
  console.log(what === 'include' ? found.include : `-L${found.lib} -Wl,-rpath,${found.lib} -ldnnl`);
}
