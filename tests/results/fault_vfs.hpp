// A fault-injecting SQLite VFS for tests (the "Env" seam of leveldb): it forwards everything to the default VFS,
// but once `budget` bytes have been written through it, every further write fails with SQLITE_FULL, as a full
// disk does. Register once with FaultVfs::install(); select it with StoreOptions::vfs = FaultVfs::kName; set the
// budget with FaultVfs::set_budget() (negative = unlimited).
#pragma once
#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <cstring>

namespace reval::test {

class FaultVfs {
 public:
  static constexpr const char* kName = "reval-fault";

  static void install() {
    static bool done = [] {
      sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
      static sqlite3_vfs vfs;
      std::memcpy(&vfs, base, sizeof vfs);
      vfs.zName = kName;
      vfs.szOsFile = static_cast<int>(sizeof(File)) + base->szOsFile;
      vfs.pAppData = base;
      vfs.xOpen = &open;
      sqlite3_vfs_register(&vfs, 0);
      return true;
    }();
    (void)done;
  }
  static void set_budget(std::int64_t bytes) { budget() = bytes; }
  static std::int64_t failures() { return failures_count(); }

 private:
  struct File {
    sqlite3_file base;        // our methods
    sqlite3_file* real;       // the default VFS's file, stored right after this struct
  };

  static std::atomic<std::int64_t>& budget() {
    static std::atomic<std::int64_t> b{-1};
    return b;
  }
  static std::atomic<std::int64_t>& failures_count() {
    static std::atomic<std::int64_t> n{0};
    return n;
  }
  static sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

  static int write(sqlite3_file* f, const void* data, int n, sqlite3_int64 offset) {
    std::int64_t left = budget().load();
    if (left >= 0) {
      if (left < n) {  // full: from now on every write fails, as on a full disk, until set_budget() again
        budget() = 0;
        ++failures_count();
        return SQLITE_FULL;
      }
      budget() -= n;
    }
    return real(f)->pMethods->xWrite(real(f), data, n, offset);
  }
  static int close(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }
  static int read(sqlite3_file* f, void* d, int n, sqlite3_int64 o) { return real(f)->pMethods->xRead(real(f), d, n, o); }
  static int truncate(sqlite3_file* f, sqlite3_int64 s) { return real(f)->pMethods->xTruncate(real(f), s); }
  static int sync(sqlite3_file* f, int flags) { return real(f)->pMethods->xSync(real(f), flags); }
  static int file_size(sqlite3_file* f, sqlite3_int64* s) { return real(f)->pMethods->xFileSize(real(f), s); }
  static int lock(sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); }
  static int unlock(sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
  static int check_lock(sqlite3_file* f, int* r) { return real(f)->pMethods->xCheckReservedLock(real(f), r); }
  static int control(sqlite3_file* f, int op, void* a) { return real(f)->pMethods->xFileControl(real(f), op, a); }
  static int sector(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
  static int device(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
  static int shm_map(sqlite3_file* f, int i, int sz, int ext, void volatile** p) {
    return real(f)->pMethods->xShmMap(real(f), i, sz, ext, p);
  }
  static int shm_lock(sqlite3_file* f, int o, int n, int fl) { return real(f)->pMethods->xShmLock(real(f), o, n, fl); }
  static void shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
  static int shm_unmap(sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
  static int fetch(sqlite3_file* f, sqlite3_int64 o, int n, void** p) { return real(f)->pMethods->xFetch(real(f), o, n, p); }
  static int unfetch(sqlite3_file* f, sqlite3_int64 o, void* p) { return real(f)->pMethods->xUnfetch(real(f), o, p); }

  static int open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
    static const sqlite3_io_methods methods = {3,        &close,   &read,     &write,      &truncate,   &sync,
                                               &file_size, &lock,  &unlock,   &check_lock, &control,    &sector,
                                               &device,  &shm_map, &shm_lock, &shm_barrier, &shm_unmap, &fetch,
                                               &unfetch};
    auto* base = static_cast<sqlite3_vfs*>(vfs->pAppData);
    File* file = reinterpret_cast<File*>(f);
    file->real = reinterpret_cast<sqlite3_file*>(file + 1);
    int rc = base->xOpen(base, name, file->real, flags, out_flags);
    file->base.pMethods = rc == SQLITE_OK && file->real->pMethods ? &methods : nullptr;
    return rc;
  }
};

}  // namespace reval::test
