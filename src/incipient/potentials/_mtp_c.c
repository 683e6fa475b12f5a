/* Compiled C kernel of the MTP: site energies and pair gradients for a range of atom blocks.
 *
 * Own code (the numba kernel in mtp_kernel.py is the same algorithm; this one is faster because
 * C lets the accumulators live in registers). Loaded with ctypes from incipient.potentials.
 * mtp_ckernel; threads are Python threads, each calling mtp_eval_blocks on its own blocks (ctypes
 * releases the GIL).
 *
 * Layout: a "chunk" is LANES = 8 atoms, one SIMD vector of doubles (GCC vector extension, which
 * becomes one AVX-512 register, two AVX2 or four SSE2 registers depending on -march). A block is
 * NV chunks. Moments of a block live in V[k][NV] (vectors), so the moment products work on rows
 * of NV vectors, accumulating each target in registers (products are grouped by target, adjoints
 * are pulled from the consumers of each moment, so every row is written once). Pair terms are
 * computed chunk by chunk and neighbour slot by neighbour slot: for slot q, lane l holds the q-th
 * neighbour of atom l of the chunk; atoms with fewer neighbours are padded with pairs beyond the
 * cutoff (radial functions zero). The monomials of a slot (n_mono vectors) stay in L1.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LANES 8
#define NV 2
#define QS 2 /* neighbour slots processed together (shares the loads of V and A rows) */
typedef double v8 __attribute__((vector_size(LANES * sizeof(double))));

static inline v8 splat(double x) { return (v8){x, x, x, x, x, x, x, x}; }

typedef struct {
    int64_t nsp, nf, nbasis;
    const double *rc;
    double min_d, max_d, scaling;
    int64_t n_mono;
    const int64_t *mono_parent, *mono_dir, *mono_pow, *mono_lower;
    int64_t n_basic;
    const int64_t *basic_mu, *mb_ptr, *mb_idx;
    int64_t n_moments;
    const int64_t *tptr, *t_i1, *t_i2;
    const double *t_mult;
    const int64_t *pull_ptr, *pull_i3, *pull_oth;
    const double *pull_mult, *seed;
    int64_t n_scalar;
    const int64_t *mapping;
    const double *moment_coeffs, *species_coeffs;
} Tables;

/* Radial functions of the 8 pairs of one neighbour slot (lanes): Rv[mu] and dRv/dr[mu], the
 * Chebyshev basis times scaling * (rcut - r)^2. Cv holds the coefficients for this chunk's centre
 * types, (tj, mu, k) -> vector over lanes; the neighbour type of each lane selects its row by a
 * 0/1 mask (all nsp rows are evaluated: cheaper than gathering per lane). */
static inline void radial_v(const Tables *t, const v8 *Cv, const v8 tjv, const v8 r, v8 *Rv, v8 *Rd) {
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
    v8 dm = t->max_d - r, inside, sm, dsm;
    for (int l = 0; l < LANES; l++) inside[l] = dm[l] > 0.0 ? 1.0 : 0.0;
    dm *= inside;
    sm = t->scaling * dm * dm;
    dsm = -2.0 * t->scaling * dm;
    for (int64_t ty = 0; ty < nsp; ty++)
        for (int l = 0; l < LANES; l++) mt[ty][l] = tjv[l] == (double)ty ? 1.0 : 0.0;
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

int mtp_eval_blocks(
    /* neighbour list (CSR by centre atom) and atoms */
    int64_t n_atoms, const int64_t *offsets, const int64_t *nbr, const double *vecs,
    const int64_t *types, const int64_t *order, int64_t block_begin, int64_t block_end,
    /* radial basis */
    int64_t nsp, int64_t nf, int64_t nbasis, const double *rc, double min_d, double max_d,
    double scaling,
    /* monomials and basic moments */
    int64_t n_mono, const int64_t *mono_parent, const int64_t *mono_dir, const int64_t *mono_pow,
    const int64_t *mono_lower, int64_t n_basic, const int64_t *basic_mu, const int64_t *mb_ptr,
    const int64_t *mb_idx,
    /* products: grouped by target (tptr), and by input (pull) */
    int64_t n_moments, const int64_t *tptr, const int64_t *t_i1, const int64_t *t_i2,
    const double *t_mult, const int64_t *pull_ptr, const int64_t *pull_i3, const int64_t *pull_oth,
    const double *pull_mult, const double *seed, int64_t n_scalar, const int64_t *mapping,
    const double *moment_coeffs, const double *species_coeffs,
    /* outputs: site energies (n_atoms) and pair gradients (n_pairs, 3) */
    double *E, double *G) {
    Tables tb = {nsp, nf, nbasis, rc, min_d, max_d, scaling, n_mono, mono_parent, mono_dir,
                 mono_pow, mono_lower, n_basic, basic_mu, mb_ptr, mb_idx, n_moments, tptr, t_i1,
                 t_i2, t_mult, pull_ptr, pull_i3, pull_oth, pull_mult, seed, n_scalar, mapping,
                 moment_coeffs, species_coeffs};
    const Tables *t = &tb;
    const int64_t BLK = NV * LANES;
    int64_t maxnn = 1;
    for (int64_t i = 0; i < n_atoms; i++)
        if (offsets[i + 1] - offsets[i] > maxnn) maxnn = offsets[i + 1] - offsets[i];
    maxnn = (maxnn + QS - 1) / QS * QS;
    const int64_t slot = 4 + 2 * nf; /* vectors kept per (chunk, slot): r, ux, uy, uz, Rv[nf], Rd[nf] */
    v8 *V = aligned_alloc(64, sizeof(v8) * (size_t)(n_moments * NV));
    v8 *A = aligned_alloc(64, sizeof(v8) * (size_t)(n_moments * NV));
    v8 *mono = aligned_alloc(64, sizeof(v8) * (size_t)(QS * n_mono));
    v8 *keep = aligned_alloc(64, sizeof(v8) * (size_t)(NV * maxnn * slot));
    v8 *Cv = aligned_alloc(64, sizeof(v8) * (size_t)(nsp * nf * nbasis));
    if (!V || !A || !mono || !keep || !Cv) {
        free(V); free(A); free(mono); free(keep); free(Cv);
        return -1;
    }
    int64_t nnq[NV];

    for (int64_t blk = block_begin; blk < block_end; blk++) {
        const int64_t a0 = blk * BLK;
        const int64_t nat = (n_atoms - a0 < BLK) ? n_atoms - a0 : BLK;
        for (int64_t b = 0; b < n_basic * NV; b++) V[b] = splat(0.0);
        /* ---- forward pair terms, chunk by chunk and slot by slot */
        for (int c = 0; c < NV; c++) {
            int64_t nq = 0;
            for (int l = 0; l < LANES; l++) {
                int64_t s = c * LANES + l;
                if (s < nat) {
                    int64_t i = order[a0 + s];
                    if (offsets[i + 1] - offsets[i] > nq) nq = offsets[i + 1] - offsets[i];
                }
            }
            nq = (nq + QS - 1) / QS * QS;
            nnq[c] = nq;
            /* radial coefficients for the centre types of this chunk's lanes */
            for (int l = 0; l < LANES; l++) {
                const int64_t s = c * LANES + l;
                const int64_t ti = s < nat ? types[order[a0 + s]] : 0;
                const double *src = rc + ti * nsp * nf * nbasis;
                for (int64_t j = 0; j < nsp * nf * nbasis; j++) Cv[j][l] = src[j];
            }
            for (int64_t q = 0; q < nq; q++) {
                v8 *kp = keep + ((int64_t)c * maxnn + q) * slot;
                v8 X, Yv, Z, TJ;
                for (int l = 0; l < LANES; l++) {
                    int64_t s = c * LANES + l, p = -1, i = 0;
                    if (s < nat) {
                        i = order[a0 + s];
                        if (offsets[i] + q < offsets[i + 1]) p = offsets[i] + q;
                    }
                    if (p >= 0) {
                        X[l] = vecs[3 * p];
                        Yv[l] = vecs[3 * p + 1];
                        Z[l] = vecs[3 * p + 2];
                        TJ[l] = (double)types[nbr[p]];
                    } else { /* padding: a pair beyond the cutoff */
                        X[l] = 0.0;
                        Yv[l] = 0.0;
                        Z[l] = 2.0 * max_d;
                        TJ[l] = 0.0;
                    }
                }
                v8 r = X * X + Yv * Yv + Z * Z;
                for (int l = 0; l < LANES; l++) r[l] = sqrt(r[l]);
                const v8 inv = 1.0 / r;
                kp[0] = r;
                kp[1] = X * inv;
                kp[2] = Yv * inv;
                kp[3] = Z * inv;
                radial_v(t, Cv, TJ, r, kp + 4, kp + 4 + nf);
            }
            for (int64_t q0 = 0; q0 < nq; q0 += QS) {
                const v8 *U[QS], *Rv[QS];
                for (int k = 0; k < QS; k++) {
                    const v8 *kp = keep + ((int64_t)c * maxnn + q0 + k) * slot;
                    U[k] = kp + 1;
                    Rv[k] = kp + 4;
                    mono[k] = splat(1.0);
                }
                for (int64_t m = 0; m < n_mono; m++) {
                    if (m > 0) {
                        const int64_t pa = mono_parent[m] * QS, d = mono_dir[m];
                        for (int k = 0; k < QS; k++) mono[m * QS + k] = mono[pa + k] * U[k][d];
                    }
                    for (int64_t j = mb_ptr[m]; j < mb_ptr[m + 1]; j++) {
                        const int64_t b = mb_idx[j], mu = basic_mu[b];
                        v8 acc = V[b * NV + c];
                        for (int k = 0; k < QS; k++) acc += Rv[k][mu] * mono[m * QS + k];
                        V[b * NV + c] = acc;
                    }
                }
            }
        }
        /* ---- moment products, each target accumulated in registers */
        for (int64_t k = n_basic; k < n_moments; k++) {
            v8 acc[NV];
            for (int c = 0; c < NV; c++) acc[c] = splat(0.0);
            for (int64_t j = tptr[k]; j < tptr[k + 1]; j++) {
                const v8 *x = V + t_i1[j] * NV, *y = V + t_i2[j] * NV;
                const double mlt = t_mult[j];
                for (int c = 0; c < NV; c++) acc[c] += mlt * x[c] * y[c];
            }
            for (int c = 0; c < NV; c++) V[k * NV + c] = acc[c];
        }
        for (int64_t s = 0; s < nat; s++) {
            const int64_t i = order[a0 + s];
            double e = species_coeffs[types[i]];
            for (int64_t k = 0; k < n_scalar; k++)
                e += moment_coeffs[k] * V[mapping[k] * NV + s / LANES][s % LANES];
            E[i] = e;
        }
        /* ---- adjoints, pulled from the consumers of each moment (descending order) */
        for (int64_t k = n_moments - 1; k >= 0; k--) {
            v8 acc[NV];
            for (int c = 0; c < NV; c++) acc[c] = splat(seed[k]);
            for (int64_t j = pull_ptr[k]; j < pull_ptr[k + 1]; j++) {
                const v8 *a3 = A + pull_i3[j] * NV, *vo = V + pull_oth[j] * NV;
                const double mlt = pull_mult[j];
                for (int c = 0; c < NV; c++) acc[c] += mlt * a3[c] * vo[c];
            }
            for (int c = 0; c < NV; c++) A[k * NV + c] = acc[c];
        }
        /* ---- pair gradients */
        for (int c = 0; c < NV; c++) {
            for (int64_t q0 = 0; q0 < nnq[c]; q0 += QS) {
                const v8 *U[QS], *Rv[QS], *Rd[QS];
                v8 g0[QS], g1[QS], g2[QS], S[QS];
                for (int k = 0; k < QS; k++) {
                    const v8 *kp = keep + ((int64_t)c * maxnn + q0 + k) * slot;
                    U[k] = kp + 1;
                    Rv[k] = kp + 4;
                    Rd[k] = kp + 4 + nf;
                    g0[k] = g1[k] = g2[k] = S[k] = splat(0.0);
                    mono[k] = splat(1.0);
                }
                for (int64_t m = 0; m < n_mono; m++) {
                    if (m > 0) {
                        const int64_t pa = mono_parent[m] * QS, d = mono_dir[m];
                        for (int k = 0; k < QS; k++) mono[m * QS + k] = mono[pa + k] * U[k][d];
                    }
                    const int64_t j0 = mb_ptr[m], j1 = mb_ptr[m + 1];
                    if (j0 == j1) continue;
                    v8 w[QS], y[QS];
                    for (int k = 0; k < QS; k++) w[k] = y[k] = splat(0.0);
                    for (int64_t j = j0; j < j1; j++) {
                        const int64_t b = mb_idx[j], mu = basic_mu[b];
                        const v8 ab = A[b * NV + c];
                        for (int k = 0; k < QS; k++) {
                            w[k] += ab * Rv[k][mu];
                            y[k] += ab * Rd[k][mu];
                        }
                    }
                    const int64_t *pw = mono_pow + 3 * m, *lo = mono_lower + 3 * m;
                    for (int k = 0; k < QS; k++) {
                        S[k] += y[k] * mono[m * QS + k];
                        if (pw[0]) g0[k] += (double)pw[0] * w[k] * mono[lo[0] * QS + k];
                        if (pw[1]) g1[k] += (double)pw[1] * w[k] * mono[lo[1] * QS + k];
                        if (pw[2]) g2[k] += (double)pw[2] * w[k] * mono[lo[2] * QS + k];
                    }
                }
                for (int k = 0; k < QS; k++) {
                    const int64_t q = q0 + k;
                    const v8 *kp = keep + ((int64_t)c * maxnn + q) * slot;
                    const v8 ux = kp[1], uy = kp[2], uz = kp[3];
                    const v8 dot = ux * g0[k] + uy * g1[k] + uz * g2[k];
                    const v8 inv = 1.0 / kp[0];
                    const v8 G0 = S[k] * ux + (g0[k] - dot * ux) * inv;
                    const v8 G1 = S[k] * uy + (g1[k] - dot * uy) * inv;
                    const v8 G2 = S[k] * uz + (g2[k] - dot * uz) * inv;
                    for (int l = 0; l < LANES; l++) {
                        const int64_t s = c * LANES + l;
                        if (s >= nat) break;
                        const int64_t i = order[a0 + s], p = offsets[i] + q;
                        if (p < offsets[i + 1]) {
                            G[3 * p] = G0[l];
                            G[3 * p + 1] = G1[l];
                            G[3 * p + 2] = G2[l];
                        }
                    }
                }
            }
        }
    }
    free(V); free(A); free(mono); free(keep); free(Cv);
    return 0;
}

int mtp_block_atoms(void) { return NV * LANES; }
