"""Approximate minimum degree ordering, step for step as TensorFlow's SparseMatrixOrderingAMD.

TensorFlow (tensorflow/core/kernels/sparse/sparse_ordering_amd_op.cc) calls Eigen's
AMDOrdering on the symmetric matrix that the lower triangle of each CSR matrix defines;
Eigen's minimum_degree_ordering (Eigen/src/OrderingMethods/Amd.h) is Tim Davis's CSparse
``cs_amd``. The algorithm is the approximate minimum degree method of Amestoy, Davis and Duff
(SIAM J. Matrix Anal. Appl. 17(4), 1996) as Davis describes it in "Direct Methods for
Sparse Linear Systems" (SIAM 2006), section 7.1: eliminate a node of least approximate
degree, merge the elements it touches into one new element, update the degrees of that
element's nodes from the set differences |Le \\ Lk| (absorbing elements aggressively when
the difference is empty, and nodes whose degree drops to zero), detect indistinguishable
nodes with a hash and merge them into supernodes, then postorder the assembly tree.

A permutation users pass on to SparseMatrixSparseCholesky must be TensorFlow's, so every
tie-break follows Eigen's choices (facts from its Amd.h, in our own code):

* the graph is the full symmetric pattern *with* its diagonal entries: a node's initial
  degree counts its diagonal; a node whose only entry is its diagonal is an empty root; a
  node with no diagonal entry, or with degree above ``min(n - 2, max(16, 10 sqrt(n)))``, is
  "dense" and ordered last (a child of the extra element n);
* each node's list is in the order Eigen's selfadjointView<Lower> copy gives: row r's
  entries with column <= r as stored, then the rows below r that hold (row, r), in order;
* degree lists are LIFO stacks scanned from the smallest degree; the hash of a node is the
  sum of its element and node indices modulo n; a node's new list puts the pivot first,
  then its other kept elements with the first one moved last, then its kept nodes with the
  first one moved last; supernodes are found by comparing each hash bucket's nodes
  pairwise in bucket order;
* the postorder visits the trees rooted at 0..n in order, children youngest first.
"""

from __future__ import annotations

import math
from collections.abc import Callable


class AmdError(Exception):
    """The elimination reached a state Eigen's code does not handle (not expected)."""


def amd_columns(n: int, row_ptr: list[int], cols: list[int]) -> list[list[int]]:
    """Each column's adjacency, as Eigen copies a CSR matrix's lower triangle to a full
    symmetric column-major pattern (SparseSelfAdjointView<Lower> to SparseMatrix)."""
    out: list[list[int]] = [[] for _ in range(n)]
    for r in range(n):
        for c in cols[row_ptr[r]:row_ptr[r + 1]]:
            if c == r:
                out[c].append(c)
            elif r > c:
                out[c].append(r)
                out[r].append(c)
    return out


def amd_order(n: int, columns: list[list[int]], tick: Callable[[], None] | None = None
              ) -> list[int]:
    """The AMD permutation of the symmetric pattern ``columns`` (see the module docstring);
    ``tick`` is called once per pivot (the caller's time budget)."""
    dense = min(n - 2, max(16, int(10 * math.sqrt(n))))
    adj = [list(c) for c in columns] + [[]]
    size = [len(c) for c in adj]  # length of each adjacency list
    nv = [1] * (n + 1)  # supernode sizes; negative while in the new element; 0 when absorbed
    elen = [0] * (n + 1)  # elements at the front of a node's list; -1 dead node, -2 element
    degree = size[:]
    weight = [1] * (n + 1)  # set-difference workspace; 0 marks a dead element
    parent: list[int | None] = [None] * (n + 1)  # absorber in the assembly tree, -1 a root
    head, nxt, prv, hash_head = [-1] * (n + 1), [-1] * (n + 1), [-1] * (n + 1), [-1] * (n + 1)

    def clear(mark: int) -> int:
        """cs_wclear: restart the marks at 2 (live entries of ``weight`` back to 1) if needed."""
        if mark < 2:
            for i in range(n):
                if weight[i]:
                    weight[i] = 1
            return 2
        return mark

    def push(i: int, d: int) -> None:
        """Put node i first in the list of degree d."""
        if head[d] != -1:
            prv[head[d]] = i
        nxt[i], prv[i], head[d] = head[d], -1, i

    mark = clear(0)
    eliminated = 0
    for i in range(n):
        d = degree[i]
        diagonal = i in columns[i]
        if d == 1 and diagonal:
            elen[i], parent[i], weight[i] = -2, -1, 0
            eliminated += 1
        elif d > dense or not diagonal:
            nv[i], elen[i], parent[i] = 0, -1, n
            nv[n] += 1
            eliminated += 1
        else:
            push(i, d)
    elen[n], parent[n], weight[n] = -2, -1, 0

    mindeg = lemax = 0
    while eliminated < n:
        if tick is not None:
            tick()
        while mindeg < n and head[mindeg] == -1:
            mindeg += 1
        if mindeg >= n:
            raise AmdError("no node left to eliminate")
        k = head[mindeg]
        if nxt[k] != -1:
            prv[nxt[k]] = -1
        head[mindeg] = nxt[k]
        elen_k, nv_k = elen[k], nv[k]
        eliminated += nv_k

        # the new element Lk: the live nodes of k's elements, then of k's own node list
        dk = 0
        nv[k] = -nv_k
        members: list[int] = []
        sources = [(e, adj[e][:size[e]]) for e in adj[k][:elen_k]]
        sources.append((k, adj[k][elen_k:size[k]]))
        for e, nodes in sources:
            for i in nodes:
                nvi = nv[i]
                if nvi <= 0:
                    continue
                dk += nvi
                nv[i] = -nvi
                members.append(i)
                if nxt[i] != -1:
                    prv[nxt[i]] = prv[i]
                if prv[i] != -1:
                    nxt[prv[i]] = nxt[i]
                else:
                    head[degree[i]] = nxt[i]
            if e != k:
                parent[e], weight[e] = k, 0
        degree[k] = dk
        adj[k], size[k], elen[k] = members, len(members), -2

        # |Le \ Lk| for every element e next to a node of Lk, kept in weight[e] - mark
        mark = clear(mark)
        for i in members:
            if elen[i] <= 0:
                continue
            nvi = -nv[i]
            for e in adj[i][:elen[i]]:
                if weight[e] >= mark:
                    weight[e] -= nvi
                elif weight[e] != 0:
                    weight[e] = degree[e] + mark - nvi

        # approximate degrees, element absorption, pruned lists, hashes
        for i in members:
            d = h = 0
            kept_elements, kept_nodes = [], []
            for e in adj[i][:elen[i]]:
                if weight[e] == 0:
                    continue
                outside = weight[e] - mark
                if outside > 0:
                    d += outside
                    kept_elements.append(e)
                    h += e
                else:
                    parent[e], weight[e] = k, 0  # aggressive absorption into k
            for j in adj[i][elen[i]:size[i]]:
                if nv[j] > 0:
                    d += nv[j]
                    kept_nodes.append(j)
                    h += j
            if d == 0:  # mass elimination: i goes with k
                nvi = -nv[i]
                parent[i] = k
                dk -= nvi
                nv_k += nvi
                eliminated += nvi
                nv[i], elen[i] = 0, -1
                continue
            degree[i] = min(degree[i], d)
            adj[i] = [k, *kept_elements[1:], *kept_elements[:1], *kept_nodes[1:], *kept_nodes[:1]]
            elen[i], size[i] = len(kept_elements) + 1, len(adj[i])
            h %= n
            nxt[i], hash_head[h], prv[i] = hash_head[h], i, h
        degree[k] = dk
        lemax = max(lemax, dk)
        mark = clear(mark + lemax)

        # supernodes: nodes of one hash bucket with the same lists are merged
        for first in members:
            if nv[first] >= 0:
                continue
            h = prv[first]
            i = hash_head[h]
            hash_head[h] = -1
            while i != -1 and nxt[i] != -1:
                length, n_el = size[i], elen[i]
                for x in adj[i][1:length]:
                    weight[x] = mark
                keep, j = i, nxt[i]
                while j != -1:
                    same = size[j] == length and elen[j] == n_el and \
                        all(weight[x] == mark for x in adj[j][1:length])
                    if same:
                        parent[j] = i
                        nv[i] += nv[j]
                        nv[j], elen[j] = 0, -1
                        j = nxt[j]
                        nxt[keep] = j
                    else:
                        keep, j = j, nxt[j]
                i = nxt[i]
                mark += 1

        # back into the degree lists with their external degrees
        alive = []
        for i in members:
            nvi = -nv[i]
            if nvi <= 0:
                continue
            nv[i] = nvi
            d = min(degree[i] + dk - nvi, n - eliminated - nvi)
            push(i, d)
            mindeg = min(mindeg, d)
            degree[i] = d
            alive.append(i)
        nv[k] = nv_k
        adj[k], size[k] = alive, len(alive)
        if not alive:
            parent[k], weight[k] = -1, 0

    return _postorder(n, nv, parent)


def _postorder(n: int, nv: list[int], parent: list[int | None]) -> list[int]:
    """Postorder of the assembly tree: absorbed nodes before the elements, children in the
    order they were linked (the last linked first), trees by increasing root."""
    if any(p is None for p in parent):
        raise AmdError("an element was neither absorbed nor a root")
    first_child, sibling = [-1] * (n + 1), [-1] * (n + 1)
    for absorbed_only in (True, False):
        for j in range(n, -1, -1):
            if (nv[j] <= 0) != absorbed_only or parent[j] == -1:
                continue
            p = parent[j]
            assert p is not None
            sibling[j], first_child[p] = first_child[p], j
    order: list[int] = []
    for root in range(n + 1):
        if parent[root] != -1:
            continue
        stack = [root]
        while stack:
            top = stack[-1]
            child = first_child[top]
            if child == -1:
                stack.pop()
                order.append(top)
            else:
                first_child[top] = sibling[child]
                stack.append(child)
    return order[:n]
