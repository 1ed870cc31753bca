/* dlib's ensemble-of-regression-trees shape predictor (Kazemi & Sullivan 2014, as dlib
 * implements it), evaluated over flat arrays -- the same points as dlib's predictor,
 * bit for bit (see qc/shapefit.py and tests/qc/test_shapefit.py).  Built by
 * scripts/setup-env: cc -O3 -ffp-contract=off -fPIC -shared (-O3 vectorises the leaf
 * additions, element by element as before: the same sums).
 *
 * Why: a dlib fit walks 15 cascades x 500 trees and, per tree, waits on two cache
 * misses in turn (the split nodes, then the 544-byte leaf) -- 7 500 dependent trips to
 * memory, ~2-2.5 ms a fit inside a QC run.  Here each cascade first finds the leaf of
 * every tree (the split tables are read in order, which the hardware prefetcher
 * streams), then adds the leaves in tree order while prefetching the leaves a few trees
 * ahead, so the misses overlap instead of queueing.
 *
 * Arithmetic is dlib's, step by step, in the same precision and order (compile with
 * -ffp-contract=off: a fused multiply-add would round differently):
 *   - the similarity transform from the mean shape to the current one: the 2-D closed
 *     form of dlib's find_similarity_transform, a = (Sxx + Syy) / |ref|^2,
 *     b = (Syx - Sxy) / |ref|^2 in double, rounded to float;
 *   - a feature's position: (a*dx + (-b)*dy + anchor_x, b*dx + a*dy + anchor_y) in float,
 *     then the rectangle's affine map in double, floor(v + 0.5);
 *   - a pixel's intensity: (r + g + b) / 3 for RGB, the value for grey, 0 outside;
 *   - a split sends the walk left (2i+1) when f[idx1] - f[idx2] > thresh (float);
 *   - the leaves are added to the shape one tree after another, in float.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define PREFETCH_AHEAD 6

/* (fx, fy) are floor()ed pixel coordinates, still doubles: compared before any cast, so
 * a far-off rectangle (or a NaN) reads 0 instead of overflowing a conversion. */
static inline int intensity(const uint8_t *img, int h, int w, int ch, double fx, double fy)
{
    if (!(fx >= 0.0 && fy >= 0.0 && fx < (double)w && fy < (double)h))
        return 0;
    const size_t x = (size_t)fx, y = (size_t)fy;
    const uint8_t *p = img + (y * (size_t)w + x) * (size_t)ch;
    if (ch == 1)
        return p[0];
    return ((int)p[0] + (int)p[1] + (int)p[2]) / 3;
}

/* One fit.
 *   n_casc, n_trees, n_splits (leaves = n_splits + 1), n_vals (= 2 * points), n_feat
 *   initial  [n_vals] float          mean shape (unit box)
 *   ref      [n_vals] double         mean shape, centred (x, y pairs); ref_ss its |.|^2
 *   idx1/idx2[n_casc][n_trees][n_splits] int32, thresh same shape float
 *   leaves   [n_casc][n_trees][n_splits + 1][n_vals] float
 *   anchors  [n_casc][n_feat] int32, deltas [n_casc][n_feat][2] float
 *   img      [h][w][ch] uint8 (ch 1 or 3)
 *   am       [4] double (row-major 2x2), ab [2] double: unit box -> image
 *   work     [n_feat + n_trees] scratch (float features, then int leaf numbers)
 *   out      [n_vals] double: the points in image pixels, rounded as dlib rounds them
 */
void shapefit(int n_casc, int n_trees, int n_splits, int n_vals, int n_feat,
              const float *initial, const double *ref, double ref_ss,
              const int32_t *idx1, const int32_t *idx2, const float *thresh,
              const float *leaves, const int32_t *anchors, const float *deltas,
              const uint8_t *img, int h, int w, int ch,
              const double *am, const double *ab,
              float *feat, int32_t *leaf_of, float *shape, double *out)
{
    const int n_pts = n_vals / 2;
    const int n_leaves = n_splits + 1;
    for (int j = 0; j < n_vals; j++)
        shape[j] = initial[j];

    for (int c = 0; c < n_casc; c++) {
        /* Similarity transform: mean shape -> current shape. */
        double mx = 0.0, my = 0.0;
        for (int k = 0; k < n_pts; k++) {
            mx += (double)shape[2 * k];
            my += (double)shape[2 * k + 1];
        }
        mx /= n_pts;
        my /= n_pts;
        double sxx = 0.0, syy = 0.0, sxy = 0.0, syx = 0.0;
        for (int k = 0; k < n_pts; k++) {
            double cx = (double)shape[2 * k] - mx, cy = (double)shape[2 * k + 1] - my;
            double rx = ref[2 * k], ry = ref[2 * k + 1];
            sxx += cx * rx;
            syy += cy * ry;
            sxy += cx * ry;
            syx += cy * rx;
        }
        const float a = (float)((sxx + syy) / ref_ss);
        const float b = (float)((syx - sxy) / ref_ss);
        const float nb = -b;

        /* Feature pixels. */
        const int32_t *anc = anchors + (size_t)c * n_feat;
        const float *del = deltas + (size_t)c * n_feat * 2;
        for (int f = 0; f < n_feat; f++) {
            const float dx = del[2 * f], dy = del[2 * f + 1];
            const int k = anc[f];
            float t1 = a * dx;
            float t2 = nb * dy;
            float qxf = t1 + t2;
            qxf = qxf + shape[2 * k];
            float t3 = b * dx;
            float t4 = a * dy;
            float qyf = t3 + t4;
            qyf = qyf + shape[2 * k + 1];
            const double qx = (double)qxf, qy = (double)qyf;
            double px = am[0] * qx;
            px = px + am[1] * qy;
            px = px + ab[0];
            px = px + 0.5;
            double py = am[2] * qx;
            py = py + am[3] * qy;
            py = py + ab[1];
            py = py + 0.5;
            feat[f] = (float)intensity(img, h, w, ch, floor(px), floor(py));
        }

        /* The leaf each tree lands in. */
        const size_t sbase = (size_t)c * n_trees * n_splits;
        const int32_t *i1 = idx1 + sbase, *i2 = idx2 + sbase;
        const float *th = thresh + sbase;
        for (int t = 0; t < n_trees; t++) {
            int node = 0;
            const size_t o = (size_t)t * n_splits;
            while (node < n_splits) {
                const float d = feat[i1[o + node]] - feat[i2[o + node]];
                node = (d > th[o + node]) ? 2 * node + 1 : 2 * node + 2;
            }
            leaf_of[t] = t * n_leaves + (node - n_splits);
        }

        /* Add the leaves in tree order, fetching a few trees ahead. */
        const float *lv = leaves + (size_t)c * n_trees * n_leaves * n_vals;
        const size_t bytes = (size_t)n_vals * sizeof(float);
        for (int t = 0; t < PREFETCH_AHEAD && t < n_trees; t++) {
            const char *p = (const char *)(lv + (size_t)leaf_of[t] * n_vals);
            for (size_t off = 0; off < bytes; off += 64)
                __builtin_prefetch(p + off, 0, 0);
        }
        for (int t = 0; t < n_trees; t++) {
            if (t + PREFETCH_AHEAD < n_trees) {
                const char *p = (const char *)(lv + (size_t)leaf_of[t + PREFETCH_AHEAD] * n_vals);
                for (size_t off = 0; off < bytes; off += 64)
                    __builtin_prefetch(p + off, 0, 0);
            }
            const float *l = lv + (size_t)leaf_of[t] * n_vals;
            for (int j = 0; j < n_vals; j++)
                shape[j] += l[j];
        }
    }

    for (int k = 0; k < n_pts; k++) {
        const double x = (double)shape[2 * k], y = (double)shape[2 * k + 1];
        double ox = am[0] * x;
        ox = ox + am[1] * y;
        ox = ox + ab[0];
        double oy = am[2] * x;
        oy = oy + am[3] * y;
        oy = oy + ab[1];
        out[2 * k] = floor(ox + 0.5);
        out[2 * k + 1] = floor(oy + 0.5);
    }
}
