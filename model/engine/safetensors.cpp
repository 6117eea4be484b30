// safetensors parsing and validation (see safetensors.hpp).
#include "model/engine/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "model/engine/config.hpp"
#include "base/error.hpp"
#include "base/jsonl.hpp"

namespace reval::engine {

using nlohmann::json;

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::size_t safetensors_dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(path + ": cannot stat");
  }
  const std::size_t size = static_cast<std::size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw Error(path + ": truncated safetensors file (" + std::to_string(size) + " bytes, no header length)");
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw Error(path + ": mmap failed: " + std::strerror(errno));
  f.mapping_ = std::shared_ptr<void>(p, [size](void* q) { ::munmap(q, size); });
  const auto* base = static_cast<const unsigned char*>(p);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];
  if (n > size - 8)
    throw Error(path + ": truncated safetensors file: header length " + std::to_string(n) + " exceeds file size " +
                std::to_string(size));
  f.header_.assign(reinterpret_cast<const char*>(base + 8), n);
  json h;
  try {
    if (std::string depth = json_depth_error(f.header_); !depth.empty()) throw Error(depth);
    h = json::parse(f.header_);
  } catch (const std::exception& e) {
    throw Error(path + ": invalid safetensors header JSON: " + e.what());
  }
  if (!h.is_object()) throw Error(path + ": safetensors header is not a JSON object");
  const std::size_t data_size = size - 8 - n;
  const unsigned char* data = base + 8 + n;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      if (!it->is_object()) throw Error(path + ": __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m)
        if (m->is_string()) f.metadata_[m.key()] = m->get<std::string>();
      continue;
    }
    const std::string where = path + ": tensor '" + name + "': ";
    const json& t = *it;
    if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") || !t.contains("data_offsets"))
      throw Error(where + "entry needs dtype, shape and data_offsets");
    if (!t["dtype"].is_string()) throw Error(where + "dtype is not a string");
    TensorView v;
    v.name = name;
    v.file = path;
    v.dtype = t["dtype"].get<std::string>();
    const std::size_t esz = safetensors_dtype_size(v.dtype);
    if (esz == 0) throw Error(where + "unknown dtype '" + v.dtype + "'");
    if (!t["shape"].is_array()) throw Error(where + "shape is not an array");
    std::uint64_t numel = 1;
    for (const auto& d : t["shape"]) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0) throw Error(where + "bad shape " + t["shape"].dump());
      v.shape.push_back(d.get<std::int64_t>());
      numel *= static_cast<std::uint64_t>(d.get<std::int64_t>());
    }
    const json& off = t["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw Error(where + "data_offsets must be two non-negative integers");
    const std::uint64_t b = off[0].get<std::uint64_t>(), e = off[1].get<std::uint64_t>();
    if (b > e || e > data_size)
      throw Error(where + "data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                  "] out of range (data section is " + std::to_string(data_size) + " bytes; file truncated?)");
    if (e - b != numel * esz)
      throw Error(where + "data_offsets span " + std::to_string(e - b) + " bytes but shape " + shape_string(v.shape) +
                  " of " + v.dtype + " needs " + std::to_string(numel * esz));
    v.data = data + b;
    v.nbytes = e - b;
    f.tensors_.emplace(name, std::move(v));
  }
  return f;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Checkpoint Checkpoint::open(const std::string& dir) {
  namespace fs = std::filesystem;
  Checkpoint c;
  c.dir_ = dir;
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single = dir + "/model.safetensors";
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  if (fs::exists(index_path)) {
    json idx;
    try {
      idx = json::parse(read_file(index_path));
    } catch (const json::exception& e) {
      throw Error(index_path + ": invalid JSON: " + e.what());
    }
    if (!idx.is_object() || !idx.contains("weight_map") || !idx["weight_map"].is_object())
      throw Error(index_path + ": field 'weight_map': missing or not an object");
    std::set<std::string> shards;
    for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
      if (!it->is_string()) throw Error(index_path + ": weight_map entry '" + it.key() + "' is not a file name");
      const std::string shard = it->get<std::string>();
      if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
        throw Error(index_path + ": weight_map entry '" + it.key() + "' names a file outside the folder: " + shard);
      weight_map[it.key()] = shard;
      shards.insert(shard);
    }
    for (const auto& s : shards) c.files_.push_back(SafetensorsFile::open(dir + "/" + s));
  } else if (fs::exists(single)) {
    c.files_.push_back(SafetensorsFile::open(single));
  } else {
    throw Error(dir + ": no model.safetensors or model.safetensors.index.json");
  }
  for (const auto& f : c.files_) {
    for (const auto& [name, view] : f.tensors()) {
      if (c.index_.count(name)) throw Error(f.path() + ": tensor '" + name + "' is stored in more than one file");
      c.index_[name] = &view;
    }
    for (const auto& [k, v] : f.metadata())
      if (f.find(v)) c.aliases_[k] = v;  // e.g. model.embed_tokens.weight -> lm_head.weight
  }
  for (const auto& [name, shard] : weight_map) {
    auto it = c.index_.find(name);
    if (it == c.index_.end())
      throw Error(dir + "/" + shard + ": missing tensor '" + name + "' (listed in model.safetensors.index.json)");
    if (fs::path(it->second->file).filename() != shard)
      throw Error(index_path + ": tensor '" + name + "' is indexed in " + shard + " but stored in " + it->second->file);
  }
  return c;
}

const TensorView* Checkpoint::find(const std::string& name) const {
  if (auto it = index_.find(name); it != index_.end()) return it->second;
  if (auto a = aliases_.find(name); a != aliases_.end())
    if (auto it = index_.find(a->second); it != index_.end()) return it->second;
  return nullptr;
}

const TensorView& Checkpoint::get(const std::string& name, const std::vector<std::int64_t>& shape) const {
  const TensorView* v = find(name);
  if (!v) throw Error(dir_ + ": missing tensor '" + name + "'");
  if (v->shape != shape)
    throw Error(v->file + ": tensor '" + name + "': shape " + shape_string(v->shape) + ", expected " +
                shape_string(shape));
  return *v;
}

}  // namespace reval::engine
