// XEP-0004 data forms: building forms and validating submissions (see adhoc.h).
#include <algorithm>

#include <fmt/format.h>

#include "server/util/utf8.h"
#include "xep/adhoc/adhoc.h"

namespace parley::xep::adhoc {

namespace {

Field make(std::string var, FieldType type, std::string label) {
  Field f;
  f.var = std::move(var);
  f.type = type;
  f.label = std::move(label);
  return f;
}

bool multiValued(FieldType t) {
  return t == FieldType::JidMulti || t == FieldType::ListMulti || t == FieldType::TextMulti;
}

std::string describe(const Field& f) {
  if (f.label.empty()) return fmt::format("Field '{}'", f.var);
  return fmt::format("Field '{}' ({})", f.var, f.label);
}

bool hasControlCharacters(std::string_view v, bool allowNewlines) {
  for (unsigned char c : v) {
    if (c >= 0x20 || c == '\t') continue;
    if (allowNewlines && (c == '\n' || c == '\r')) continue;
    return true;
  }
  return false;
}

}  // namespace

std::string_view fieldTypeName(FieldType t) {
  switch (t) {
    case FieldType::Boolean: return "boolean";
    case FieldType::Fixed: return "fixed";
    case FieldType::Hidden: return "hidden";
    case FieldType::JidMulti: return "jid-multi";
    case FieldType::JidSingle: return "jid-single";
    case FieldType::ListMulti: return "list-multi";
    case FieldType::ListSingle: return "list-single";
    case FieldType::TextMulti: return "text-multi";
    case FieldType::TextPrivate: return "text-private";
    case FieldType::TextSingle: return "text-single";
  }
  return "text-single";
}

Field Field::text(std::string var, std::string label) {
  return make(std::move(var), FieldType::TextSingle, std::move(label));
}
Field Field::textPrivate(std::string var, std::string label) {
  return make(std::move(var), FieldType::TextPrivate, std::move(label));
}
Field Field::textMulti(std::string var, std::string label) {
  return make(std::move(var), FieldType::TextMulti, std::move(label));
}
Field Field::jidSingle(std::string var, std::string label) {
  return make(std::move(var), FieldType::JidSingle, std::move(label));
}
Field Field::jidMulti(std::string var, std::string label) {
  return make(std::move(var), FieldType::JidMulti, std::move(label));
}
Field Field::boolean(std::string var, std::string label) {
  return make(std::move(var), FieldType::Boolean, std::move(label));
}
Field Field::listSingle(std::string var, std::string label, std::vector<Option> options) {
  Field f = make(std::move(var), FieldType::ListSingle, std::move(label));
  f.options = std::move(options);
  return f;
}
Field Field::listMulti(std::string var, std::string label, std::vector<Option> options) {
  Field f = make(std::move(var), FieldType::ListMulti, std::move(label));
  f.options = std::move(options);
  return f;
}
Field Field::hidden(std::string var, std::string value) {
  Field f = make(std::move(var), FieldType::Hidden, {});
  f.values.push_back(std::move(value));
  return f;
}
Field Field::fixed(std::string text) {
  Field f = make({}, FieldType::Fixed, {});
  f.values.push_back(std::move(text));
  return f;
}

Form::Form(std::string title, std::string instructions)
    : title_(std::move(title)), instructions_(std::move(instructions)) {}

Form& Form::formType(std::string value) {
  fields_.insert(fields_.begin(), Field::hidden("FORM_TYPE", std::move(value)));
  return *this;
}

Form& Form::add(Field field) {
  fields_.push_back(std::move(field));
  return *this;
}

const Field* Form::field(std::string_view var) const {
  for (const auto& f : fields_)
    if (!f.var.empty() && f.var == var) return &f;
  return nullptr;
}

xml::MutableElementPtr Form::toXml(std::string_view type) const {
  const std::string ns(kDataNs);
  auto x = xml::make("x", ns);
  x->setAttr("type", type);
  if (!title_.empty()) x->addTextChild("title", ns, title_);
  if (!instructions_.empty() && type == "form") x->addTextChild("instructions", ns, instructions_);
  for (const auto& f : fields_) {
    auto e = xml::make("field", ns);
    if (!f.var.empty()) e->setAttr("var", f.var);
    e->setAttr("type", fieldTypeName(f.type));
    if (!f.label.empty()) e->setAttr("label", f.label);
    if (type == "form") {
      if (!f.desc.empty()) e->addTextChild("desc", ns, f.desc);
      if (f.required) e->addChild(xml::make("required", ns));
    }
    for (const auto& v : f.values) e->addTextChild("value", ns, v);
    if (type == "form") {
      for (const auto& o : f.options) {
        auto opt = xml::make("option", ns);
        if (!o.label.empty()) opt->setAttr("label", o.label);
        opt->addTextChild("value", ns, o.value);
        e->addChild(opt);
      }
    }
    x->addChild(e);
  }
  return x;
}

bool Values::has(std::string_view var) const {
  for (const auto& [k, v] : values_)
    if (k == var) return !v.empty();
  return false;
}

std::string Values::text(std::string_view var) const {
  const auto& v = all(var);
  return v.empty() ? std::string() : v.front();
}

const std::vector<std::string>& Values::all(std::string_view var) const {
  static const std::vector<std::string> kNone;
  for (const auto& [k, v] : values_)
    if (k == var) return v;
  return kNone;
}

bool Values::flag(std::string_view var) const {
  return text(var) == "1";
}

std::optional<xmpp::Jid> Values::jid(std::string_view var) const {
  if (!has(var)) return std::nullopt;
  return xmpp::Jid::parse(text(var));
}

std::vector<xmpp::Jid> Values::jids(std::string_view var) const {
  std::vector<xmpp::Jid> out;
  for (const auto& v : all(var))
    if (auto j = xmpp::Jid::parse(v)) out.push_back(*j);
  return out;
}

void Values::set(std::string var, std::vector<std::string> values) {
  for (auto& [k, v] : values_) {
    if (k == var) {
      v = std::move(values);
      return;
    }
  }
  values_.emplace_back(std::move(var), std::move(values));
}

const xml::Element* submittedForm(const xml::Element& command) {
  for (const auto& c : command.childrenNamed("x", kDataNs))
    if (c->attr("type") == "submit") return c.get();
  return nullptr;
}

std::variant<Values, FormError> parseSubmission(const Form& form, const xml::Element* x) {
  const std::string ns(kDataNs);
  Values out;
  if (x && !x->is("x", kDataNs)) return FormError{"", "The payload is not a data form (jabber:x:data)"};
  if (x && x->attr("type") != "submit")
    return FormError{"", fmt::format("The data form has type '{}', expected 'submit'", x->attr("type"))};
  for (const auto& f : form.fields()) {
    if (f.var.empty() || f.type == FieldType::Fixed) continue;
    std::vector<std::string> values;
    bool present = false;
    if (x) {
      for (const auto& e : x->childrenNamed("field", ns)) {
        if (e->attr("var") != f.var) continue;
        if (present) return FormError{f.var, fmt::format("{} is given twice", describe(f))};
        present = true;
        for (const auto& v : e->childrenNamed("value", ns)) values.push_back(v->text());
      }
    }
    if (f.type == FieldType::Hidden) {
      // FORM_TYPE and other hidden fields come back as sent; a different FORM_TYPE is another form.
      if (f.var == "FORM_TYPE" && present && !values.empty() && !f.values.empty() && values.front() != f.values.front())
        return FormError{f.var, fmt::format("The form is of type '{}', expected '{}'", values.front(), f.values.front())};
      out.set(f.var, present ? values : f.values);
      continue;
    }
    // Empty values carry nothing (clients send <value/> for untouched fields).
    if (f.type != FieldType::TextMulti)
      std::erase_if(values, [](const std::string& v) { return v.empty(); });
    if (values.empty()) {
      if (f.required) return FormError{f.var, fmt::format("{} is required", describe(f))};
      continue;
    }
    if (!multiValued(f.type) && values.size() > 1)
      return FormError{f.var, fmt::format("{} takes a single value", describe(f))};
    if (values.size() > f.maxValues)
      return FormError{f.var, fmt::format("{} takes at most {} values", describe(f), f.maxValues)};
    for (auto& v : values) {
      if (v.size() > f.maxLength)
        return FormError{f.var, fmt::format("{} is longer than {} bytes", describe(f), f.maxLength)};
      if (!util::isValidUtf8(v) || hasControlCharacters(v, f.type == FieldType::TextMulti))
        return FormError{f.var, fmt::format("{} contains characters that are not allowed", describe(f))};
      switch (f.type) {
        case FieldType::Boolean:
          if (v == "1" || v == "true")
            v = "1";
          else if (v == "0" || v == "false")
            v = "0";
          else
            return FormError{f.var, fmt::format("{} must be a boolean (0, 1, true or false), not '{}'",
                                                describe(f), v)};
          break;
        case FieldType::JidSingle:
        case FieldType::JidMulti: {
          auto jid = xmpp::Jid::parse(v);
          if (!jid) return FormError{f.var, fmt::format("{}: '{}' is not a valid JID", describe(f), v)};
          v = jid->str();
          break;
        }
        case FieldType::ListSingle:
        case FieldType::ListMulti:
          if (!f.options.empty() &&
              std::none_of(f.options.begin(), f.options.end(), [&](const Option& o) { return o.value == v; }))
            return FormError{f.var, fmt::format("{}: '{}' is not one of the options", describe(f), v)};
          break;
        default:
          break;
      }
    }
    if (f.type == FieldType::JidMulti || f.type == FieldType::ListMulti) {
      std::sort(values.begin(), values.end());
      values.erase(std::unique(values.begin(), values.end()), values.end());
    }
    out.set(f.var, std::move(values));
  }
  return out;
}

}  // namespace parley::xep::adhoc
