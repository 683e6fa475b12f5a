/* Compiled C kernel of the MTP: site energies, pair gradients, forces and virials.
 *
 * Own code (the numba kernel in mtp_kernel.py is the same algorithm; this one is faster because
 * C lets the accumulators live in registers). Loaded with ctypes from incipient.potentials.
 * mtp_ckernel; threads are Python threads, each calling mtp_eval_blocks on its own blocks (ctypes
 * releases the GIL). The model's tables are passed once as a struct (Tables) of pointers into
 * the numpy arrays of MTPTables, so a call marshals a dozen arguments, not forty.
 *
 * Layout: a "chunk" is LANES = 8 atoms, one SIMD vector of doubles (GCC vector extension, which
 * becomes one AVX-512 register, two AVX2 or four SSE2 registers depending on -march). A block is
 * nv = 2 chunks (nv = 1 for a last block of at most 8 atoms: a 1-atom cell computes the
 * products of 8 lanes, not 16). Moments of a block live in V[k][nv] (vectors), so the
 * moment products work on rows of nv vectors, accumulating each target in registers (products
 * are grouped by target, adjoints are pulled from the consumers of each moment, so every row is
 * written once).
 *
 * Pair terms, two layouts chosen per chunk by their cost:
 *  - atom lanes (dense chunks): neighbour slot by neighbour slot, lane l holds the q-th neighbour
 *    of atom l of the chunk; atoms with fewer neighbours are padded with pairs beyond the cutoff
 *    (radial functions zero);
 *  - pair lanes (sparse chunks: one or a few atoms, e.g. a 1-atom cell): lane l holds pair
 *    8v + l of one atom, the eight lanes are summed into the atom's lane of V once per atom, and
 *    the atom's adjoints are broadcast to all lanes for the gradients. A 1-atom cell then does
 *    1/8 of the pair work of atom lanes.
 * Four slots are processed together; the monomials of a slot stay in L1 and the per-slot sums
 * (dE/dr, the three angular gradients) stay in registers. A block holding a single atom does
 * its moment products in scalars (one_atom_products).
 *
 * Work arrays are kept per thread (thread-local, grown on demand), so a call allocates nothing.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LANES 8
#define NVMAX 2
/* neighbour slots processed together (they share the loads and stores of the V and A rows):
 * QSF in the forward pass, QSB in the gradients (more accumulators per slot there), slot counts
 * rounded up to QS = max of the two. Measured at level 22: QSF = QSB = 4 is 7-12 % faster than 2. */
#ifndef QSF
#define QSF 4
#endif
#ifndef QSB
#define QSB 4
#endif
#define QS (QSF > QSB ? QSF : QSB)
typedef double v8 __attribute__((vector_size(LANES * sizeof(double))));
typedef int64_t vi8 __attribute__((vector_size(LANES * sizeof(int64_t))));
#define ALWAYS static inline __attribute__((always_inline))
#if defined(__AVX512F__)
#include <immintrin.h>
ALWAYS v8 vsqrt(v8 x) { return (v8)_mm512_sqrt_pd((__m512d)x); }
#else
ALWAYS v8 vsqrt(v8 x) {
    for (int l = 0; l < LANES; l++) x[l] = sqrt(x[l]);
    return x;
}
#endif
/* x where the mask (a vector comparison: all bits set or none) holds, else +0.0 */
ALWAYS v8 vselect(vi8 mask, v8 x) { return (v8)(mask & (vi8)x); }

ALWAYS v8 splat(double x) { return (v8){x, x, x, x, x, x, x, x}; }
ALWAYS double hsum(v8 x) { return ((x[0] + x[4]) + (x[2] + x[6])) + ((x[1] + x[5]) + (x[3] + x[7])); }

/* one moment product in 8 bytes (the tables are streamed once per block: at level 28 they are
 * 4 MB in this form against 13 MB as int64 + double) */
typedef struct {
    uint16_t a, b;
    float m;
} Prod;

typedef struct {
    int64_t nsp, nf, nbasis;
    const double *rc;
    double min_d, max_d, scaling;
    int64_t n_mono;
    const int64_t *mono_parent, *mono_dir, *mono_pow, *mono_lower;
    int64_t n_basic;
    const int64_t *basic_mu, *mb_ptr, *mb_idx;
    int64_t n_moments;
    const int64_t *tptr;
    const Prod *tprod; /* products by target: inputs a, b */
    const int64_t *pull_ptr;
    const Prod *pull;  /* products by input: consumer a (i3), other input b */
    const double *seed;
    int64_t n_scalar;
    const int64_t *mapping;
    const double *moment_coeffs, *species_coeffs;
} Tables;

/* ---------------------------------------------------------------------------------------------
 * per-thread work arrays */
typedef struct {
    v8 *V, *A, *mono, *keep, *Cv, *P, *Vs, *As;
    size_t cap_v, cap_a, cap_keep, cap_mono, cap_cv, cap_p, cap_vs, cap_as;
    int64_t *order;
    size_t cap_order;
} Work;
static __thread Work tw;

static int grow(v8 **p, size_t *cap, size_t need) {
    if (*cap >= need) return 0;
    free(*p);
    size_t n = need + need / 4 + 8;
    *p = aligned_alloc(64, sizeof(v8) * n);
    if (!*p) {
        *cap = 0;
        return -1;
    }
    *cap = n;
    return 0;
}

static int work_reserve(const Tables *t, int64_t maxnn) {
    int rc = 0;
    rc |= grow(&tw.V, &tw.cap_v, (size_t)(t->n_moments * NVMAX));
    rc |= grow(&tw.A, &tw.cap_a, (size_t)(t->n_moments * NVMAX));
    rc |= grow(&tw.mono, &tw.cap_mono, (size_t)(QS * (t->n_mono + 1)));
    rc |= grow(&tw.keep, &tw.cap_keep, (size_t)(NVMAX * (maxnn + QS) * (4 + 2 * t->nf)));
    rc |= grow(&tw.Cv, &tw.cap_cv, (size_t)(t->nsp * t->nf * t->nbasis));
    rc |= grow(&tw.P, &tw.cap_p, (size_t)(t->n_basic + 1));
    rc |= grow(&tw.Vs, &tw.cap_vs, (size_t)(t->n_moments / LANES + 1));
    rc |= grow(&tw.As, &tw.cap_as, (size_t)(t->n_moments / LANES + 1));
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * radial functions of the 8 pairs of one slot (lanes): Rv[mu] and dRv/dr[mu], the Chebyshev
 * basis times scaling * (rcut - r)^2. Cv holds the coefficients for the lanes' centre types,
 * (tj, mu, k) -> vector over lanes; the neighbour type of each lane selects its row by a 0/1
 * mask (all nsp rows are evaluated: cheaper than gathering per lane). */
ALWAYS void radial_v(const Tables *t, const v8 *Cv, const v8 tjv, const v8 r, v8 *Rv, v8 *Rd) {
    const double width = t->max_d - t->min_d, d = 2.0 / width;
    const int64_t nb = t->nbasis, nf = t->nf, nsp = t->nsp;
    v8 T[nb], dT[nb], mt[nsp];
    const v8 s = (2.0 * r - (t->min_d + t->max_d)) / width;
    T[0] = splat(1.0);
    dT[0] = splat(0.0);
    if (nb > 1) {
        T[1] = s;
        dT[1] = splat(d);
    }
    for (int64_t k = 2; k < nb; k++) {
        T[k] = 2.0 * s * T[k - 1] - T[k - 2];
        dT[k] = 2.0 * (d * T[k - 1] + s * dT[k - 1]) - dT[k - 2];
    }
    v8 dm = t->max_d - r, sm, dsm;
    dm = vselect(dm > 0.0, dm);
    sm = t->scaling * dm * dm;
    dsm = -2.0 * t->scaling * dm;
    if (nsp == 1) {
        for (int64_t mu = 0; mu < nf; mu++) {
            const v8 *c = Cv + mu * nb;
            v8 a = splat(0.0), b = splat(0.0);
            for (int64_t k = 0; k < nb; k++) {
                a += c[k] * T[k];
                b += c[k] * dT[k];
            }
            Rv[mu] = a * sm;
            Rd[mu] = b * sm + a * dsm;
        }
        return;
    }
    for (int64_t ty = 0; ty < nsp; ty++) mt[ty] = vselect(tjv == (double)ty, splat(1.0));
    for (int64_t mu = 0; mu < nf; mu++) {
        v8 fv = splat(0.0), fd = splat(0.0);
        for (int64_t ty = 0; ty < nsp; ty++) {
            const v8 *c = Cv + (ty * nf + mu) * nb;
            v8 a = splat(0.0), b = splat(0.0);
            for (int64_t k = 0; k < nb; k++) {
                a += c[k] * T[k];
                b += c[k] * dT[k];
            }
            fv += mt[ty] * a;
            fd += mt[ty] * b;
        }
        Rv[mu] = fv * sm;
        Rd[mu] = fd * sm + fv * dsm;
    }
}

/* geometry and radial functions of one slot: kp = [r, ux, uy, uz, Rv[nf], Rd[nf]] */
ALWAYS void slot_prepare(const Tables *t, const v8 *Cv, v8 X, v8 Y, v8 Z, v8 TJ, v8 *kp) {
    const v8 r = vsqrt(X * X + Y * Y + Z * Z);
    const v8 inv = 1.0 / r;
    kp[0] = r;
    kp[1] = X * inv;
    kp[2] = Y * inv;
    kp[3] = Z * inv;
    radial_v(t, Cv, TJ, r, kp + 4, kp + 4 + t->nf);
}

/* forward pair terms of QS slots: dst[b * stride] += sum_k R_mu(k) * monomial_m(k) */
ALWAYS void fwd_slots(const Tables *t, v8 *mono, v8 *const *kps, v8 *dst, const int stride) {
    const int64_t n_mono = t->n_mono;
    const v8 *U[QSF], *Rv[QSF];
    for (int k = 0; k < QSF; k++) {
        U[k] = kps[k] + 1;
        Rv[k] = kps[k] + 4;
        mono[k] = splat(1.0);
    }
    for (int64_t m = 0; m < n_mono; m++) {
        if (m > 0) {
            const int64_t pa = t->mono_parent[m] * QSF, d = t->mono_dir[m];
            for (int k = 0; k < QSF; k++) mono[m * QSF + k] = mono[pa + k] * U[k][d];
        }
        for (int64_t j = t->mb_ptr[m]; j < t->mb_ptr[m + 1]; j++) {
            const int64_t b = t->mb_idx[j], mu = t->basic_mu[b];
            v8 acc = dst[b * stride];
            for (int k = 0; k < QSF; k++) acc += Rv[k][mu] * mono[m * QSF + k];
            dst[b * stride] = acc;
        }
    }
}

/* pair gradients of QSF slots from the adjoints src[b * stride] of the basic moments:
 * out[k] = dE/d(vector) of slot k (three vectors) */
ALWAYS void bwd_slots(const Tables *t, v8 *mono, v8 *const *kps, const v8 *src, const int stride,
                      v8 out[QSB][3]) {
    const int64_t n_mono = t->n_mono, nf = t->nf;
    const v8 *U[QSB], *Rv[QSB], *Rd[QSB];
    v8 g0[QSB], g1[QSB], g2[QSB], S[QSB];
    for (int k = 0; k < QSB; k++) {
        U[k] = kps[k] + 1;
        Rv[k] = kps[k] + 4;
        Rd[k] = kps[k] + 4 + nf;
        g0[k] = g1[k] = g2[k] = S[k] = splat(0.0);
        mono[k] = splat(1.0);
    }
    for (int64_t m = 0; m < n_mono; m++) {
        if (m > 0) {
            const int64_t pa = t->mono_parent[m] * QSB, d = t->mono_dir[m];
            for (int k = 0; k < QSB; k++) mono[m * QSB + k] = mono[pa + k] * U[k][d];
        }
        const int64_t j0 = t->mb_ptr[m], j1 = t->mb_ptr[m + 1];
        if (j0 == j1) continue;
        v8 w[QSB], y[QSB];
        for (int k = 0; k < QSB; k++) w[k] = y[k] = splat(0.0);
        for (int64_t j = j0; j < j1; j++) {
            const int64_t b = t->mb_idx[j], mu = t->basic_mu[b];
            const v8 ab = src[b * stride];
            for (int k = 0; k < QSB; k++) {
                w[k] += ab * Rv[k][mu];
                y[k] += ab * Rd[k][mu];
            }
        }
        const int64_t *pw = t->mono_pow + 3 * m, *lo = t->mono_lower + 3 * m;
        for (int k = 0; k < QSB; k++) {
            S[k] += y[k] * mono[m * QSB + k];
            if (pw[0]) g0[k] += (double)pw[0] * w[k] * mono[lo[0] * QSB + k];
            if (pw[1]) g1[k] += (double)pw[1] * w[k] * mono[lo[1] * QSB + k];
            if (pw[2]) g2[k] += (double)pw[2] * w[k] * mono[lo[2] * QSB + k];
        }
    }
    for (int k = 0; k < QSB; k++) {
        const v8 ux = kps[k][1], uy = kps[k][2], uz = kps[k][3];
        const v8 dot = ux * g0[k] + uy * g1[k] + uz * g2[k];
        const v8 inv = 1.0 / kps[k][0];
        out[k][0] = S[k] * ux + (g0[k] - dot * ux) * inv;
        out[k][1] = S[k] * uy + (g1[k] - dot * uy) * inv;
        out[k][2] = S[k] * uz + (g2[k] - dot * uz) * inv;
    }
}

typedef struct {
    int64_t n_atoms;
    const int64_t *offsets, *nbr, *types, *order;
    const double *vecs;
    double *E, *G;
    int64_t maxnn; /* longest neighbour list, rounded up to QS */
} Call;

/* a0 + sum_j m_j x[a_j] y[b_j] over products j in [j, j1), in scalars (one-atom path); four
 * accumulators hide the FMA latency */
ALWAYS double prod_sum_scalar(const Prod *p, int64_t j, const int64_t j1, const double *x, const double *y,
                              double a0) {
    double a1 = 0.0, a2 = 0.0, a3 = 0.0;
    for (; j + 3 < j1; j += 4) {
        a0 += (double)p[j].m * x[p[j].a] * y[p[j].b];
        a1 += (double)p[j + 1].m * x[p[j + 1].a] * y[p[j + 1].b];
        a2 += (double)p[j + 2].m * x[p[j + 2].a] * y[p[j + 2].b];
        a3 += (double)p[j + 3].m * x[p[j + 3].a] * y[p[j + 3].b];
    }
    for (; j < j1; j++) a0 += (double)p[j].m * x[p[j].a] * y[p[j].b];
    return (a0 + a1) + (a2 + a3);
}

/* Products, energy and adjoints of a block holding one atom, in scalars: the moment arrays are
 * then 8 times smaller than as vectors (140 KB, not 1.1 MB, each at level 28, so they stay in
 * L2) and no work is spent on empty lanes. V, A: the block's vector rows (lane 0 is the atom);
 * the adjoints of the basic moments are written back to all lanes of A. Returns the energy. */
static double one_atom_products(const Tables *t, v8 *V, v8 *A, int64_t ti) {
    const int64_t nb = t->n_basic, nmom = t->n_moments;
    double *Vs = (double *)tw.Vs, *As = (double *)tw.As;
    for (int64_t b = 0; b < nb; b++) Vs[b] = V[b][0];
    const Prod *pr = t->tprod, *pl = t->pull;
    for (int64_t k = nb; k < nmom; k++) {
        Vs[k] = prod_sum_scalar(pr, t->tptr[k], t->tptr[k + 1], Vs, Vs, 0.0);
    }
    double e = t->species_coeffs[ti];
    for (int64_t k = 0; k < t->n_scalar; k++) e += t->moment_coeffs[k] * Vs[t->mapping[k]];
    for (int64_t k = nmom - 1; k >= 0; k--) {
        As[k] = prod_sum_scalar(pl, t->pull_ptr[k], t->pull_ptr[k + 1], As, Vs, t->seed[k]);
    }
    for (int64_t b = 0; b < nb; b++) A[b] = splat(As[b]);
    return e;
}

/* one block of nat atoms starting at a0 (in blocking order), nv chunks (compile-time 1 or 2) */
/* acc[c] += sum_j m_j X[a_j][c] Y[b_j][c] over products j in [j, j1) (the moment products and,
 * with X = adjoints, their pulled adjoints); one vector: two accumulators hide the FMA latency */
ALWAYS void prod_sum(const Prod *p, int64_t j, const int64_t j1, const v8 *X, const v8 *Y, const int nv,
                     v8 *acc) {
    if (nv == 1) {
        v8 acc2 = splat(0.0);
        for (; j + 1 < j1; j += 2) {
            acc[0] += (double)p[j].m * X[p[j].a] * Y[p[j].b];
            acc2 += (double)p[j + 1].m * X[p[j + 1].a] * Y[p[j + 1].b];
        }
        acc[0] += acc2;
    }
    for (; j < j1; j++) {
        const v8 *x = X + (int64_t)p[j].a * nv, *y = Y + (int64_t)p[j].b * nv;
        const double mlt = (double)p[j].m;
        for (int c = 0; c < nv; c++) acc[c] += mlt * x[c] * y[c];
    }
}

ALWAYS void do_block(const Tables *t, const Call *cl, int64_t a0, int64_t nat, const int nv) {
    const int64_t *offsets = cl->offsets, *order = cl->order, *types = cl->types, *nbr = cl->nbr;
    const double *vecs = cl->vecs;
    const int64_t nf = t->nf, nsp = t->nsp, nb = t->nbasis, n_basic = t->n_basic;
    const int64_t nmom = t->n_moments, slot = 4 + 2 * nf, maxnn = cl->maxnn;
    const double max_d = t->max_d;
    v8 *V = tw.V, *A = tw.A, *mono = tw.mono, *keep = tw.keep, *Cv = tw.Cv, *P = tw.P;
    int64_t nq[NVMAX], pairlane[NVMAX];

    for (int64_t b = 0; b < n_basic * nv; b++) V[b] = splat(0.0);
    /* ---- forward pair terms, chunk by chunk */
    for (int c = 0; c < nv; c++) {
        int64_t q_atom = 0, q_pair = 0, na = 0;
        for (int l = 0; l < LANES; l++) {
            const int64_t s = c * LANES + l;
            if (s >= nat) break;
            const int64_t i = order[a0 + s], nn = offsets[i + 1] - offsets[i];
            na++;
            if (nn > q_atom) q_atom = nn;
            q_pair += ((nn + LANES - 1) / LANES + QS - 1) / QS * QS + 1; /* +1: the lane sums */
        }
        q_atom = (q_atom + QS - 1) / QS * QS;
        pairlane[c] = na > 0 && q_pair < q_atom;
        nq[c] = q_atom;
        if (na == 0) continue;
        if (!pairlane[c]) {
            /* radial coefficients for the centre types of this chunk's lanes */
            for (int l = 0; l < LANES; l++) {
                const int64_t s = c * LANES + l;
                const int64_t ti = s < nat ? types[order[a0 + s]] : 0;
                const double *src = t->rc + ti * nsp * nf * nb;
                for (int64_t j = 0; j < nsp * nf * nb; j++) Cv[j][l] = src[j];
            }
            for (int64_t q = 0; q < q_atom; q++) {
                v8 X, Y, Z, TJ;
                for (int l = 0; l < LANES; l++) {
                    const int64_t s = c * LANES + l;
                    int64_t p = -1;
                    if (s < nat) {
                        const int64_t i = order[a0 + s];
                        if (offsets[i] + q < offsets[i + 1]) p = offsets[i] + q;
                    }
                    if (p >= 0) {
                        X[l] = vecs[3 * p];
                        Y[l] = vecs[3 * p + 1];
                        Z[l] = vecs[3 * p + 2];
                        TJ[l] = (double)types[nbr[p]];
                    } else { /* padding: a pair beyond the cutoff */
                        X[l] = 0.0;
                        Y[l] = 0.0;
                        Z[l] = 2.0 * max_d;
                        TJ[l] = 0.0;
                    }
                }
                slot_prepare(t, Cv, X, Y, Z, TJ, keep + ((int64_t)c * maxnn + q) * slot);
            }
            for (int64_t q0 = 0; q0 < q_atom; q0 += QSF) {
                v8 *kps[QSF];
                for (int k = 0; k < QSF; k++) kps[k] = keep + ((int64_t)c * maxnn + q0 + k) * slot;
                fwd_slots(t, mono, kps, V + c, nv);
            }
        } else {
            /* pair lanes: the slots of each atom in turn, summed into its lane */
            int64_t q = 0;
            for (int l = 0; l < na; l++) {
                const int64_t i = order[a0 + c * LANES + l], p0 = offsets[i], p1 = offsets[i + 1];
                const int64_t nvec = ((p1 - p0 + LANES - 1) / LANES + QS - 1) / QS * QS;
                const double *src = t->rc + types[i] * nsp * nf * nb;
                for (int64_t j = 0; j < nsp * nf * nb; j++) Cv[j] = splat(src[j]);
                for (int64_t b = 0; b < n_basic; b++) P[b] = splat(0.0);
                for (int64_t v = 0; v < nvec; v += QSF) {
                    v8 *kps[QSF];
                    for (int k = 0; k < QSF; k++) {
                        v8 X, Y, Z, TJ;
                        for (int ll = 0; ll < LANES; ll++) {
                            const int64_t p = p0 + (v + k) * LANES + ll;
                            if (p < p1) {
                                X[ll] = vecs[3 * p];
                                Y[ll] = vecs[3 * p + 1];
                                Z[ll] = vecs[3 * p + 2];
                                TJ[ll] = (double)types[nbr[p]];
                            } else {
                                X[ll] = 0.0;
                                Y[ll] = 0.0;
                                Z[ll] = 2.0 * max_d;
                                TJ[ll] = 0.0;
                            }
                        }
                        kps[k] = keep + ((int64_t)c * maxnn + q + v + k) * slot;
                        slot_prepare(t, Cv, X, Y, Z, TJ, kps[k]);
                    }
                    fwd_slots(t, mono, kps, P, 1);
                }
                for (int64_t b = 0; b < n_basic; b++) V[b * nv + c][l] = hsum(P[b]);
                q += nvec;
            }
        }
    }
    if (nv == 1 && nat == 1) {
        const int64_t i = order[a0];
        cl->E[i] = one_atom_products(t, V, A, types[i]);
    } else {
        /* ---- moment products, each target accumulated in registers */
        for (int64_t k = n_basic; k < nmom; k++) {
            v8 acc[nv];
            for (int c = 0; c < nv; c++) acc[c] = splat(0.0);
            prod_sum(t->tprod, t->tptr[k], t->tptr[k + 1], V, V, nv, acc);
            for (int c = 0; c < nv; c++) V[k * nv + c] = acc[c];
        }
        {
            v8 e[nv];
            for (int c = 0; c < nv; c++) e[c] = splat(0.0);
            for (int64_t k = 0; k < t->n_scalar; k++) {
                const double mc = t->moment_coeffs[k];
                const v8 *x = V + t->mapping[k] * nv;
                for (int c = 0; c < nv; c++) e[c] += mc * x[c];
            }
            for (int64_t s = 0; s < nat; s++) {
                const int64_t i = order[a0 + s];
                cl->E[i] = t->species_coeffs[types[i]] + e[s / LANES][s % LANES];
            }
        }
        /* ---- adjoints, pulled from the consumers of each moment (descending order) */
        for (int64_t k = nmom - 1; k >= 0; k--) {
            v8 acc[nv];
            for (int c = 0; c < nv; c++) acc[c] = splat(t->seed[k]);
            prod_sum(t->pull, t->pull_ptr[k], t->pull_ptr[k + 1], A, V, nv, acc);
            for (int c = 0; c < nv; c++) A[k * nv + c] = acc[c];
        }
    }
    /* ---- pair gradients */
    double *G = cl->G;
    for (int c = 0; c < nv; c++) {
        if (!pairlane[c]) {
            for (int64_t q0 = 0; q0 < nq[c]; q0 += QSB) {
                v8 *kps[QSB];
                v8 out[QSB][3];
                for (int k = 0; k < QSB; k++) kps[k] = keep + ((int64_t)c * maxnn + q0 + k) * slot;
                bwd_slots(t, mono, kps, A + c, nv, out);
                for (int k = 0; k < QSB; k++) {
                    const int64_t q = q0 + k;
                    for (int l = 0; l < LANES; l++) {
                        const int64_t s = c * LANES + l;
                        if (s >= nat) break;
                        const int64_t i = order[a0 + s], p = offsets[i] + q;
                        if (p < offsets[i + 1]) {
                            G[3 * p] = out[k][0][l];
                            G[3 * p + 1] = out[k][1][l];
                            G[3 * p + 2] = out[k][2][l];
                        }
                    }
                }
            }
        } else {
            int64_t q = 0;
            for (int l = 0; l < LANES; l++) {
                const int64_t s = c * LANES + l;
                if (s >= nat) break;
                const int64_t i = order[a0 + s], p0 = offsets[i], p1 = offsets[i + 1];
                const int64_t nvec = ((p1 - p0 + LANES - 1) / LANES + QS - 1) / QS * QS;
                for (int64_t b = 0; b < n_basic; b++) P[b] = splat(A[b * nv + c][l]);
                for (int64_t v = 0; v < nvec; v += QSB) {
                    v8 *kps[QSB];
                    v8 out[QSB][3];
                    for (int k = 0; k < QSB; k++) kps[k] = keep + ((int64_t)c * maxnn + q + v + k) * slot;
                    bwd_slots(t, mono, kps, P, 1, out);
                    for (int k = 0; k < QSB; k++)
                        for (int ll = 0; ll < LANES; ll++) {
                            const int64_t p = p0 + (v + k) * LANES + ll;
                            if (p >= p1) break;
                            G[3 * p] = out[k][0][ll];
                            G[3 * p + 1] = out[k][1][ll];
                            G[3 * p + 2] = out[k][2][ll];
                        }
                }
                q += nvec;
            }
        }
    }
}

static void block_nv1(const Tables *t, const Call *cl, int64_t a0, int64_t nat) { do_block(t, cl, a0, nat, 1); }
static void block_nv2(const Tables *t, const Call *cl, int64_t a0, int64_t nat) { do_block(t, cl, a0, nat, 2); }

static int64_t max_neighbours(int64_t n, const int64_t *offsets) {
    int64_t m = 1;
    for (int64_t i = 0; i < n; i++)
        if (offsets[i + 1] - offsets[i] > m) m = offsets[i + 1] - offsets[i];
    return (m + QS - 1) / QS * QS;
}

/* Atoms in increasing order of neighbour count (stable counting sort): the blocking order. */
int mtp_order(int64_t n, const int64_t *offsets, int64_t *order) {
    int64_t mx = 0;
    for (int64_t i = 0; i < n; i++)
        if (offsets[i + 1] - offsets[i] > mx) mx = offsets[i + 1] - offsets[i];
    int64_t *cnt = calloc((size_t)(mx + 2), sizeof(int64_t));
    if (!cnt) return -1;
    for (int64_t i = 0; i < n; i++) cnt[offsets[i + 1] - offsets[i] + 1]++;
    for (int64_t k = 0; k <= mx; k++) cnt[k + 1] += cnt[k];
    for (int64_t i = 0; i < n; i++) order[cnt[offsets[i + 1] - offsets[i]]++] = i;
    free(cnt);
    return 0;
}

/* Site energies E (n) and pair gradients G (P, 3) for blocks [block_begin, block_end) of nv
 * chunks each (blocks of nv * 8 atoms in the order `order`). Returns 0, or -1 when out of memory. */
int mtp_eval_blocks(const Tables *t, int64_t n_atoms, const int64_t *offsets, const int64_t *nbr,
                    const double *vecs, const int64_t *types, const int64_t *order, int64_t nv,
                    int64_t block_begin, int64_t block_end, double *E, double *G) {
    Call cl = {n_atoms, offsets, nbr, types, order, vecs, E, G, max_neighbours(n_atoms, offsets)};
    if (work_reserve(t, cl.maxnn)) return -1;
    const int64_t blk = nv * LANES;
    for (int64_t b = block_begin; b < block_end; b++) {
        const int64_t a0 = b * blk, nat = (n_atoms - a0 < blk) ? n_atoms - a0 : blk;
        if (nat <= 0) break;
        if (nv == 2 && nat > LANES)
            block_nv2(t, &cl, a0, nat);
        else
            block_nv1(t, &cl, a0, nat);
    }
    return 0;
}

/* Forces F (n, 3) and, when W is not NULL, centroid per-atom virials W (n, 3, 3) from the pair
 * gradients: F_i += G_p, F_j -= G_p, W_j += vecs_p (x) G_p for pair p = (i, j). */
void mtp_forces(int64_t n, const int64_t *offsets, const int64_t *nbr, const double *vecs, const double *G,
                double *F, double *W) {
    memset(F, 0, sizeof(double) * 3 * (size_t)n);
    if (W) memset(W, 0, sizeof(double) * 9 * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = offsets[i]; p < offsets[i + 1]; p++) {
            const int64_t j = nbr[p];
            for (int a = 0; a < 3; a++) {
                F[3 * i + a] += G[3 * p + a];
                F[3 * j + a] -= G[3 * p + a];
            }
            if (W)
                for (int a = 0; a < 3; a++)
                    for (int b = 0; b < 3; b++) W[9 * j + 3 * a + b] += vecs[3 * p + a] * G[3 * p + b];
        }
}

/* Everything on one thread: blocking order, energies, gradients, forces (and virials if W). */
int mtp_run(const Tables *t, int64_t n_atoms, const int64_t *offsets, const int64_t *nbr, const double *vecs,
            const int64_t *types, int64_t nv, double *E, double *G, double *F, double *W) {
    if ((size_t)n_atoms > tw.cap_order) {
        free(tw.order);
        tw.order = malloc(sizeof(int64_t) * (size_t)(n_atoms + n_atoms / 4 + 16));
        tw.cap_order = tw.order ? (size_t)(n_atoms + n_atoms / 4 + 16) : 0;
        if (!tw.order) return -1;
    }
    if (mtp_order(n_atoms, offsets, tw.order)) return -1;
    const int64_t blk = nv * LANES, nblocks = (n_atoms + blk - 1) / blk;
    if (mtp_eval_blocks(t, n_atoms, offsets, nbr, vecs, types, tw.order, nv, 0, nblocks, E, G)) return -1;
    if (F) mtp_forces(n_atoms, offsets, nbr, vecs, G, F, W);
    return 0;
}

int mtp_block_atoms(void) { return NVMAX * LANES; }
int mtp_lanes(void) { return LANES; }
