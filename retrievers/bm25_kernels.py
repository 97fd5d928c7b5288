"""Exact top-k BM25 over a term-major (CSC) impact index: a numba MaxScore kernel and a numpy fallback.

The index stores, per term, the rows (ascending) of the documents containing it and the precomputed
BM25 impact of the term in each. A query's score for a document is the weighted sum of impacts.

The numba kernel is exact *dynamic pruning* (MaxScore, term at a time): terms are visited in
decreasing order of their best possible contribution; as soon as the k-th best partial score beats
everything the remaining terms could add, no unseen document can enter the top k, so the remaining
(usually long, low-idf) posting lists are only probed for the surviving candidates by galloping
search, and candidates that can no longer reach the top k are dropped. Results are identical to
exhaustive scoring; ties go to the lower row, as in Lucene. The kernel releases the GIL, so
threads search different queries in parallel.

Without numba, :func:`search_numpy` scores exhaustively with numpy (same results, slower).
"""

from __future__ import annotations

import numpy as np

try:  # numba is a core dependency; without it, the numpy path gives the same results (slower)
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None
    HAVE_NUMBA = False


def _jit(func):
    if HAVE_NUMBA:
        return numba.njit(nogil=True, cache=True)(func)
    return func


@_jit
def _insert_topk(score, doc, top_s, top_d, filled, k):
    """Insert (score, doc) into the sorted top lists (score desc, row asc); returns the new fill."""
    if filled == k:
        last_s = top_s[k - 1]
        if score < last_s or (score == last_s and doc > top_d[k - 1]):
            return filled
        pos = k - 1
    else:
        pos = filled
        filled += 1
    while pos > 0 and (top_s[pos - 1] < score or (top_s[pos - 1] == score and top_d[pos - 1] > doc)):
        top_s[pos] = top_s[pos - 1]
        top_d[pos] = top_d[pos - 1]
        pos -= 1
    top_s[pos] = score
    top_d[pos] = doc
    return filled


@_jit
def _select(acc, cand, n_cand, k, top_s, top_d):
    filled = 0
    for c in range(n_cand):
        d = cand[c]
        filled = _insert_topk(acc[d], d, top_s, top_d, filled, k)
    return filled


@_jit
def _prune(acc, cand, n_cand, rest, theta):
    """Keep (in order, at the front of ``cand``) the candidates whose score plus ``rest`` (the most the
    remaining terms can add) still reaches ``theta``; the others' scores are reset. Returns how many."""
    kept = 0
    for c in range(n_cand):
        d = cand[c]
        if acc[d] + rest >= theta:
            cand[kept] = d
            kept += 1
        else:
            acc[d] = 0.0
    return kept


@_jit
def _search_one(data, indices, indptr, col_max, terms, weights, k, acc, cand, out_docs, out_scores, bad):
    n_docs = acc.shape[0]
    m = terms.shape[0]
    if m == 0:
        return 0
    ub = np.empty(m, np.float64)
    for i in range(m):
        ub[i] = col_max[terms[i]] * weights[i]
    order = np.argsort(-ub)
    suffix = np.zeros(m + 1, np.float64)
    for i in range(m - 1, -1, -1):
        suffix[i] = suffix[i + 1] + ub[order[i]]
    top_s = np.empty(k, np.float64)
    top_d = np.empty(k, np.int64)

    # Phase 1: exhaustive accumulation while unseen documents can still reach the top k.
    n_cand = 0
    theta = -1.0
    i = 0
    while i < m:
        if n_cand >= k:
            _select(acc, cand, n_cand, k, top_s, top_d)
            theta = top_s[k - 1]
            if theta > suffix[i]:
                break
        t = terms[order[i]]
        w = weights[order[i]]
        for j in range(indptr[t], indptr[t + 1]):
            d = indices[j]
            v = data[j]
            # a damaged index must not make the kernel read or write out of bounds: count and skip
            if d < 0 or d >= n_docs or not (v >= 0.0 and v < np.inf):
                bad[0] += 1
                continue
            if v == 0.0:  # adds nothing (and must not enter ``cand`` twice)
                continue
            if acc[d] == 0.0:
                cand[n_cand] = d
                n_cand += 1
            acc[d] += w * v
        i += 1

    if i < m:
        # Phase 2: only candidates can make the top k; probe the remaining lists for them.
        cs = np.sort(cand[:n_cand])
        n = _prune(acc, cs, n_cand, suffix[i], theta)
        while i < m and n > 0:
            t = terms[order[i]]
            w = weights[order[i]]
            p = indptr[t]
            hi = indptr[t + 1]
            for c in range(n):
                d = cs[c]
                if p >= hi:
                    break
                if indices[p] < d:  # gallop forward to the first posting >= d
                    step = 1
                    while p + step < hi and indices[p + step] < d:
                        step *= 2
                    lo = p + step // 2
                    up = min(p + step, hi)
                    while lo < up:
                        mid = (lo + up) // 2
                        if indices[mid] < d:
                            lo = mid + 1
                        else:
                            up = mid
                    p = lo
                if p < hi and indices[p] == d:
                    acc[d] += w * data[p]
                    p += 1
            i += 1
            if n > k:
                _select(acc, cs, n, k, top_s, top_d)
                theta = top_s[k - 1]
                n = _prune(acc, cs, n, suffix[i], theta)
        filled = _select(acc, cs, n, k, top_s, top_d)
        for c in range(n):
            acc[cs[c]] = 0.0
    else:
        filled = _select(acc, cand, n_cand, k, top_s, top_d)
        for c in range(n_cand):
            acc[cand[c]] = 0.0

    for r in range(filled):
        out_docs[r] = top_d[r]
        out_scores[r] = top_s[r]
    return filled


@_jit
def search_batch_jit(
    data, indices, indptr, col_max, q_ptr, q_terms, q_weights, k, acc, cand, out_docs, out_scores
):
    """Top-k for each query ``q`` given as ``q_terms[q_ptr[q]:q_ptr[q+1]]`` (distinct terms) with weights.

    ``acc`` (float64, one per document, all zero) and ``cand`` (int64, one per document) are scratch
    buffers; ``acc`` is left all zero again. Rows of ``out_docs`` are filled with -1 past the hits.
    ``indptr`` must be non-decreasing within ``0..len(indices)`` and term ids within it (checked when
    an index is opened); postings with a row outside ``0..len(acc)-1`` or a negative or non-finite
    impact are skipped. Returns the number of postings skipped (0 for an intact index).
    """
    bad = np.zeros(1, np.int64)
    nq = q_ptr.shape[0] - 1
    for q in range(nq):
        lo = q_ptr[q]
        hi = q_ptr[q + 1]
        filled = _search_one(
            data,
            indices,
            indptr,
            col_max,
            q_terms[lo:hi],
            q_weights[lo:hi],
            k,
            acc,
            cand,
            out_docs[q],
            out_scores[q],
            bad,
        )
        for r in range(filled, k):
            out_docs[q, r] = -1
            out_scores[q, r] = 0.0
    return bad[0]


def search_numpy(data, indices, indptr, q_ptr, q_terms, q_weights, k, acc, out_docs, out_scores) -> int:
    """Exhaustive numpy scoring with the same output and bounds contract as :func:`search_batch_jit`."""
    bad = 0
    n_docs = acc.shape[0]
    for q in range(q_ptr.shape[0] - 1):
        out_docs[q] = -1
        out_scores[q] = 0.0
        lo, hi = q_ptr[q], q_ptr[q + 1]
        if lo == hi:
            continue
        acc[:] = 0.0
        for t, w in zip(q_terms[lo:hi], q_weights[lo:hi]):
            a, b = indptr[t], indptr[t + 1]
            rows, impacts = indices[a:b], data[a:b].astype(np.float64)
            ok = (rows >= 0) & (rows < n_docs) & (impacts >= 0.0) & (impacts < np.inf)
            if not ok.all():
                bad += int(ok.size - np.count_nonzero(ok))
                rows, impacts = rows[ok], impacts[ok]
            acc[rows] += w * impacts
        hits = np.flatnonzero(acc)
        if hits.size > k:
            kth = np.partition(acc[hits], hits.size - k)[hits.size - k]
            hits = hits[acc[hits] >= kth]
        order = np.lexsort((hits, -acc[hits]))[:k]
        rows = hits[order]
        out_docs[q, : rows.size] = rows
        out_scores[q, : rows.size] = acc[rows]
        acc[:] = 0.0
    return bad
