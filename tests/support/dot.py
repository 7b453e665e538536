"""A small parser of the Graphviz DOT language (the subset TEDD writes: digraph, subgraphs,
node / edge / attribute statements, quoted and HTML IDs, ports), so that tests can check that
the text parses and read back its nodes, edges and attributes."""
import re

_TOKEN = re.compile(r'\s*(?:(->|--)|([{}\[\];,=:])|("(?:[^"\\]|\\.)*")|([A-Za-z_][\w.]*|-?\d+(?:\.\d+)?))',
                    re.S)


class DotError(ValueError):
    pass


def _tokens(text):
    pos, out = 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        if text[pos] == "<":                    # an HTML ID: balanced < >
            depth, start = 0, pos
            while pos < len(text):
                depth += {"<": 1, ">": -1}.get(text[pos], 0)
                pos += 1
                if depth == 0:
                    break
            if depth:
                raise DotError(f"unbalanced HTML label at {start}")
            out.append(("id", text[start + 1:pos - 1]))
            continue
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise DotError(f"unexpected text at {pos}: {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group(1) or m.group(2):
            out.append(("op", m.group(1) or m.group(2)))
        elif m.group(3):
            out.append(("id", re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1),
                                     m.group(3)[1:-1])))
        else:
            out.append(("id", m.group(4)))


class Graph:
    def __init__(self):
        self.name = None
        self.nodes = {}        # id -> attrs
        self.edges = []        # (src, dst, attrs, src_port)
        self.subgraphs = {}    # name -> set of node ids declared inside


def parse(text):
    toks = _tokens(text)
    g = Graph()
    i = 0

    def peek():
        return toks[i] if i < len(toks) else (None, None)

    def take(kind=None, value=None):
        nonlocal i
        t = peek()
        if t[0] is None or (kind and t[0] != kind) or (value and t[1] != value):
            raise DotError(f"expected {value or kind}, got {t[1]!r} (token {i})")
        i += 1
        return t[1]

    def attr_list():
        attrs = {}
        while peek() == ("op", "["):
            take("op", "[")
            while peek() != ("op", "]"):
                k = take("id")
                take("op", "=")
                attrs[k] = take("id")
                if peek()[1] in (",", ";"):
                    take("op")
            take("op", "]")
        return attrs

    def node_ref():
        nid, port = take("id"), None
        if peek() == ("op", ":"):
            take("op", ":")
            port = take("id")
        return nid, port

    def stmts(scope):
        while peek() != ("op", "}"):
            t = peek()
            if t == ("id", "subgraph"):
                take("id")
                name = take("id")
                take("op", "{")
                inner = set()
                g.subgraphs[name] = inner
                stmts(inner)
                take("op", "}")
                scope |= inner
            elif t[1] in ("graph", "node", "edge") and toks[i + 1] == ("op", "["):
                take("id")
                attr_list()
            elif t[0] == "id" and toks[i + 1] == ("op", "="):
                take("id")
                take("op", "=")
                take("id")
            else:
                (a, port) = node_ref()
                if peek() == ("op", "->"):
                    take("op", "->")
                    b, _ = node_ref()
                    g.edges.append((a, b, attr_list(), port))
                else:
                    g.nodes.setdefault(a, {}).update(attr_list())
                    scope.add(a)
            if peek() == ("op", ";"):
                take("op", ";")

    take("id", "digraph")
    g.name = take("id")
    take("op", "{")
    stmts(set())
    take("op", "}")
    if i != len(toks):
        raise DotError("text after the graph")
    return g
