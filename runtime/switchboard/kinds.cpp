// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/kinds.hpp"

#include "switchboard/errc.hpp"
#include "switchboard/wiring.hpp"

namespace switchboard {

const char* to_string(value_type x) {
  switch (x) {
    case value_type::string: return "string";
    case value_type::integer: return "integer";
    case value_type::boolean: return "boolean";
    case value_type::real: return "number";
    case value_type::timespan: return "duration (e.g. 250ms)";
    case value_type::string_list: return "list of strings";
    case value_type::list: return "list";
    case value_type::map: return "map";
    case value_type::actor_ref: return "actor name";
    case value_type::actor_ref_list: return "list of actor names";
    case value_type::actor_ref_map: return "map of actor names";
    case value_type::any: return "any value";
  }
  return "?";
}

caf::error kind_registry::add(kind_spec spec) {
  auto name = spec.name;
  if (!kinds_.emplace(name, std::move(spec)).second)
    return make_error(errc::name_taken, "kind '" + name + "' exists already");
  return caf::none;
}

caf::error kind_registry::add_section(section_spec spec) {
  auto name = spec.name;
  if (name == "node" || name == "actors" || name == "bridges"
      || !sections_.emplace(name, std::move(spec)).second)
    return make_error(errc::name_taken,
                      "section [" + name + "] exists already");
  return caf::none;
}

const kind_spec* kind_registry::find(const std::string& name) const {
  auto i = kinds_.find(name);
  return i == kinds_.end() ? nullptr : &i->second;
}

key_spec run_on_key() {
  return {"run-on",
          value_type::string,
          false,
          "\"scheduler\" (default: CAF's threads) or \"loop\" (the io loop, "
          "beside the bridges: no thread hop between a bridge and it)",
          {"scheduler", "loop"}};
}

bool runs_on_loop(const caf::settings& args) {
  return caf::get_or(args, "run-on", "scheduler") == "loop";
}

std::vector<std::string> wired_names(const kind_spec& spec,
                                     const caf::settings& entry) {
  std::vector<std::string> refs;
  for (auto& key : spec.keys) {
    if (key.type == value_type::actor_ref) {
      if (auto x = caf::get_if<std::string>(&entry, key.name))
        refs.push_back(*x);
    } else if (key.type == value_type::actor_ref_list) {
      if (auto xs = caf::get_if<std::vector<std::string>>(&entry, key.name))
        refs.insert(refs.end(), xs->begin(), xs->end());
    } else if (key.type == value_type::actor_ref_map) {
      if (auto m = caf::get_if<caf::settings>(&entry, key.name))
        for (auto& kvp : *m)
          if (auto v = caf::get_if<std::string>(&kvp.second))
            refs.push_back(*v);
    }
  }
  return refs;
}

} // namespace switchboard
