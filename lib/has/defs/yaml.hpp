#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// The YAML documents of a definitions file as a small read-only tree of
// has's own, built from yaml-cpp's parser events. yaml-cpp's own node tree
// costs about three times its parser on a large file (reference-counted
// nodes, a memory holder per node); definitions are read once, in order, so
// an arena of plain nodes is all they need.
namespace has::defs::yaml {

enum class NodeType { undefined, null, scalar, sequence, map };

// A position in the parsed text, both from 0; line -1 when unknown.
struct Mark {
  int line = -1;
  int column = -1;
  bool is_null() const noexcept { return line < 0; }
};

struct Data;
struct Item;
class Builder;

// A handle to one node of a Documents tree (or to no node: undefined). It
// is valid as long as the Documents it came from.
class Node {
public:
  Node() = default;
  explicit Node(const Data* data) noexcept : m_data(data) {}

  NodeType type() const noexcept;
  bool is_defined() const noexcept { return m_data != nullptr; }
  bool is_null() const noexcept { return type() == NodeType::null; }
  bool is_scalar() const noexcept { return type() == NodeType::scalar; }
  bool is_sequence() const noexcept { return type() == NodeType::sequence; }
  bool is_map() const noexcept { return type() == NodeType::map; }
  // Returns the text of a scalar, or an empty string for any other node.
  const std::string& text() const noexcept;
  // Returns the tag as the parser gave it: "?" for a plain scalar, "!" for a
  // quoted one, the explicit tag otherwise; empty for no node.
  const std::string& tag() const noexcept;
  Mark mark() const noexcept;
  // Returns the number of items of a sequence or fields of a mapping.
  std::size_t size() const noexcept;
  // Returns item index of a sequence, or no node.
  Node operator[](std::size_t index) const noexcept;

  // Iterates a sequence's items (each Item is the item) or a mapping's
  // fields (each Item has first = key and second = value).
  class Iterator {
  public:
    Iterator(const Data* parent, std::size_t index) noexcept : m_parent(parent), m_index(index) {}
    Item operator*() const noexcept;
    Iterator& operator++() noexcept;
    bool operator==(const Iterator& other) const noexcept = default;

  private:
    const Data* m_parent;
    std::size_t m_index;
  };
  Iterator begin() const noexcept;
  Iterator end() const noexcept;

private:
  const Data* m_data = nullptr;
};

struct Item : Node {
  Node first;
  Node second;
};

struct Data {
  NodeType type = NodeType::null;
  Mark mark;
  std::string text;
  const std::string* tag = nullptr;
  // A sequence's items, or a mapping's keys and values in turn.
  const Data* const* children = nullptr;
  std::size_t count = 0;
};

// A syntax error, where the parser found it.
class ParseError : public std::runtime_error {
public:
  ParseError(Mark mark, const std::string& message) : std::runtime_error(message), m_mark(mark) {}
  Mark mark() const noexcept { return m_mark; }

private:
  Mark m_mark;
};

// The documents of one text, and the nodes they are made of.
class Documents {
public:
  const std::vector<Node>& all() const noexcept { return m_documents; }
  std::vector<Node>::const_iterator begin() const noexcept { return m_documents.begin(); }
  std::vector<Node>::const_iterator end() const noexcept { return m_documents.end(); }

private:
  friend class Builder; // fills the tree from the parser's events

  // Returns a new node, valid as long as this.
  Data& add();
  // Returns room for count children, valid as long as this.
  const Data** add_children(std::size_t count);
  // Returns the tag text, valid as long as this.
  const std::string* add_tag(const std::string& tag);
  void add_document(Node node) { m_documents.push_back(node); }

  // Nodes and child lists in blocks that never move.
  std::vector<std::unique_ptr<Data[]>> m_blocks;
  std::size_t m_used = 0;
  std::vector<std::unique_ptr<const Data*[]>> m_child_blocks;
  std::size_t m_child_used = 0;
  std::size_t m_child_size = 0;
  std::deque<std::string> m_tags;
  std::vector<Node> m_documents;
};

inline NodeType Node::type() const noexcept {
  return m_data != nullptr ? m_data->type : NodeType::undefined;
}

inline const std::string& Node::text() const noexcept {
  static const std::string empty;
  return m_data != nullptr && m_data->type == NodeType::scalar ? m_data->text : empty;
}

inline const std::string& Node::tag() const noexcept {
  static const std::string empty;
  return m_data != nullptr && m_data->tag != nullptr ? *m_data->tag : empty;
}

inline Mark Node::mark() const noexcept {
  return m_data != nullptr ? m_data->mark : Mark{};
}

inline std::size_t Node::size() const noexcept {
  if (m_data == nullptr) {
    return 0;
  }
  return m_data->type == NodeType::map ? m_data->count / 2 : m_data->count;
}

inline Node Node::operator[](std::size_t index) const noexcept {
  if (m_data == nullptr || m_data->type != NodeType::sequence || index >= m_data->count) {
    return Node();
  }
  return Node(m_data->children[index]);
}

inline Item Node::Iterator::operator*() const noexcept {
  Item item;
  if (m_parent->type == NodeType::map) {
    item.first = Node(m_parent->children[m_index]);
    item.second = Node(m_parent->children[m_index + 1]);
  } else {
    static_cast<Node&>(item) = Node(m_parent->children[m_index]);
  }
  return item;
}

inline Node::Iterator& Node::Iterator::operator++() noexcept {
  m_index += m_parent->type == NodeType::map ? 2 : 1;
  return *this;
}

inline Node::Iterator Node::begin() const noexcept {
  return {m_data, 0};
}

inline Node::Iterator Node::end() const noexcept {
  return {m_data, m_data != nullptr ? m_data->count : 0};
}

// Returns every document of text (an empty document is a null node); throws
// ParseError at the first syntax error.
Documents load_all(std::string_view text);

} // namespace has::defs::yaml
