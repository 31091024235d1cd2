#include <has/defs/yaml.hpp>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <istream>
#include <streambuf>

namespace has::defs::yaml {

namespace {

// Reads a string_view in place, without the copy an istringstream makes.
class ViewBuffer : public std::streambuf {
public:
  explicit ViewBuffer(std::string_view text) {
    // The parser only reads; the get area is never written through.
    char* begin = const_cast<char*>(text.data());
    setg(begin, begin, begin + text.size());
  }
};

Mark mark_of(const YAML::Mark& mark) {
  return {mark.line, mark.column};
}

const std::string k_plain_tag = "?";
const std::string k_quoted_tag = "!";

} // namespace

// Builds the tree from the parser's events, as yaml-cpp's own builder does:
// an alias is the anchored node itself, a mapping's children are its keys
// and values in turn.
class Builder : public YAML::EventHandler {
public:
  explicit Builder(Documents& out) : m_out(out) {}

  void OnDocumentStart(const YAML::Mark&) override {
    m_root = nullptr;
    m_open.clear();
    m_pending.clear();
    m_anchors.clear();
  }

  void OnDocumentEnd() override {
    if (m_root == nullptr) {
      m_root = &m_out.add();
    }
    m_out.add_document(Node(m_root));
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    make(NodeType::null, mark, anchor);
  }

  void OnAlias(const YAML::Mark&, YAML::anchor_t anchor) override {
    if (anchor < m_anchors.size() && m_anchors[anchor] != nullptr) {
      attach(m_anchors[anchor]);
    } else {
      attach(&m_out.add());
    }
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    Data& data = make(NodeType::scalar, mark, anchor);
    data.text = value;
    data.tag = tag_of(tag);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(make(NodeType::sequence, mark, anchor), tag);
  }

  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(make(NodeType::map, mark, anchor), tag);
  }

  void OnMapEnd() override { close(); }

private:
  struct Open {
    Data* data;
    std::size_t first; // of its children in m_pending
  };

  Data& make(NodeType type, const YAML::Mark& mark, YAML::anchor_t anchor) {
    Data& data = m_out.add();
    data.type = type;
    data.mark = mark_of(mark);
    if (anchor != YAML::NullAnchor) {
      if (m_anchors.size() <= anchor) {
        m_anchors.resize(anchor + 1, nullptr);
      }
      m_anchors[anchor] = &data;
    }
    attach(&data);
    return data;
  }

  const std::string* tag_of(const std::string& tag) {
    if (tag == k_plain_tag) {
      return &k_plain_tag;
    }
    if (tag == k_quoted_tag) {
      return &k_quoted_tag;
    }
    return m_out.add_tag(tag);
  }

  void open(Data& data, const std::string& tag) {
    data.tag = tag_of(tag);
    m_open.push_back({&data, m_pending.size()});
  }

  // The children of a collection are gathered while it is open, then
  // stored together.
  void close() {
    auto [data, first] = m_open.back();
    m_open.pop_back();
    data->count = m_pending.size() - first;
    const Data** children = m_out.add_children(data->count);
    std::copy(m_pending.begin() + static_cast<std::ptrdiff_t>(first), m_pending.end(), children);
    data->children = children;
    m_pending.resize(first);
  }

  void attach(const Data* data) {
    if (m_open.empty()) {
      m_root = data;
    } else {
      m_pending.push_back(data);
    }
  }

  Documents& m_out;
  const Data* m_root = nullptr;
  std::vector<Open> m_open;
  std::vector<const Data*> m_pending;
  std::vector<const Data*> m_anchors;
};

constexpr std::size_t k_block = 1024;

Data& Documents::add() {
  if (m_blocks.empty() || m_used == k_block) {
    m_blocks.push_back(std::make_unique<Data[]>(k_block));
    m_used = 0;
  }
  return m_blocks.back()[m_used++];
}

const Data** Documents::add_children(std::size_t count) {
  if (m_child_blocks.empty() || m_child_size - m_child_used < count) {
    m_child_size = std::max(count, 4 * k_block);
    m_child_blocks.push_back(std::make_unique<const Data*[]>(m_child_size));
    m_child_used = 0;
  }
  const Data** out = m_child_blocks.back().get() + m_child_used;
  m_child_used += count;
  return out;
}

const std::string* Documents::add_tag(const std::string& tag) {
  return &m_tags.emplace_back(tag);
}

Documents load_all(std::string_view text) {
  Documents out;
  ViewBuffer buffer(text);
  std::istream in(&buffer);
  try {
    YAML::Parser parser(in);
    Builder builder(out);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const YAML::Exception& e) {
    throw ParseError(mark_of(e.mark), e.msg);
  }
  return out;
}

} // namespace has::defs::yaml
