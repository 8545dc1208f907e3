/* Region-of-interest JPEG decoding with libjpeg-turbo, for har's top-down data pipeline.
 *
 * har_roi_decode() decodes only the rows and columns a person crop needs: the rows above the region are skipped
 * (jpeg_skip_scanlines: entropy decoding only, no IDCT, upsampling or colour conversion), the columns outside it
 * are skipped (jpeg_crop_scanline: whole iMCU columns), and decoding stops after the region's last row (the rest
 * of the file is not read). DCT scaling (scale_denom 1, 2, 4 or 8) works with it, as cv2.IMREAD_REDUCED_COLOR_*
 * does. Output is BGR (OpenCV's order), 3 bytes per pixel; grey JPEGs are expanded to BGR.
 *
 * Built by har/data/jpeg_roi.py (make install does it) against the system's libjpeg-turbo (libjpeg62-turbo-dev
 * on Debian/Ubuntu: jpeglib.h, libjpeg.so). Called through ctypes, which releases the GIL.
 *
 * Errors never longjmp past this file: the error manager jumps back here and the function returns a code.
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#define HAR_OK 0
#define HAR_ERROR 1          /* libjpeg error or corrupt data inside the region; message in err */
#define HAR_CAPACITY 2       /* out is too small: info[6] * info[7] * 3 bytes are enough */
#define HAR_UNSUPPORTED 3    /* colour space libjpeg cannot turn into BGR (CMYK, YCCK): decode otherwise */
#define HAR_ORIENTED 4       /* EXIF orientation other than 1: the caller decides the frame (info[8]) */

#define HAR_INFO_LEN 10

struct har_error_mgr {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  int warnings;
  int truncated;                         /* JWRN_JPEG_EOF seen: the file ends before the data does */
  char first_warning[JMSG_LENGTH_MAX];
};

static void har_error_exit(j_common_ptr cinfo) {
  struct har_error_mgr *err = (struct har_error_mgr *)cinfo->err;
  longjmp(err->jump, 1);
}

static void har_emit_message(j_common_ptr cinfo, int msg_level) {
  struct har_error_mgr *err = (struct har_error_mgr *)cinfo->err;
  if (msg_level < 0) { /* a warning: corrupt or truncated data, which libjpeg fills in and goes on */
    if (err->warnings == 0) err->pub.format_message(cinfo, err->first_warning);
    if (err->pub.msg_code == JWRN_JPEG_EOF) err->truncated = 1;
    err->warnings++;
  }
}

/* EXIF orientation tag (0x0112) of an APP1 "Exif" marker; 0 when absent or unreadable. */
static int exif_orientation(const unsigned char *p, unsigned int len) {
  if (len < 14 || memcmp(p, "Exif\0\0", 6) != 0) return 0;
  p += 6;
  len -= 6;
  int le;
  if (p[0] == 'I' && p[1] == 'I') le = 1;
  else if (p[0] == 'M' && p[1] == 'M') le = 0;
  else return 0;
#define U16(q) (le ? (unsigned)((q)[0] | ((q)[1] << 8)) : (unsigned)(((q)[0] << 8) | (q)[1]))
#define U32(q) (le ? ((unsigned long)(q)[0] | ((unsigned long)(q)[1] << 8) | ((unsigned long)(q)[2] << 16) | \
                      ((unsigned long)(q)[3] << 24))                                                       \
                   : (((unsigned long)(q)[0] << 24) | ((unsigned long)(q)[1] << 16) |                     \
                      ((unsigned long)(q)[2] << 8) | (unsigned long)(q)[3]))
  unsigned long ifd = U32(p + 4);
  if (ifd + 2 > len) return 0;
  unsigned n = U16(p + ifd);
  for (unsigned i = 0; i < n; i++) {
    unsigned long e = ifd + 2 + 12 * (unsigned long)i;
    if (e + 12 > len) return 0;
    if (U16(p + e) == 0x0112) {
      unsigned v = U16(p + e + 8);
      return v <= 8 ? (int)v : 0;
    }
  }
  return 0;
#undef U16
#undef U32
}

/* Reads the header of data into cinfo: info[0] width, [1] height (as stored), [8] EXIF orientation (0 when absent).
 * Returns whether libjpeg can turn the image into BGR by itself (not CMYK/YCCK). */
static int read_header(j_decompress_ptr cinfo, const unsigned char *data, unsigned long size, int *info) {
  jpeg_mem_src(cinfo, data, size);
  jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(cinfo, TRUE);
  info[0] = (int)cinfo->image_width;
  info[1] = (int)cinfo->image_height;
  for (jpeg_saved_marker_ptr m = cinfo->marker_list; m != NULL; m = m->next) {
    if (m->marker == JPEG_APP0 + 1) {
      int o = exif_orientation(m->data, m->data_length);
      if (o) {
        info[8] = o;
        break;
      }
    }
  }
  return !(cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK ||
           cinfo->num_components == 2 || cinfo->num_components > 4);
}

struct region_request {
  const unsigned char *data;
  unsigned long size;
  int scale_denom, x0, y0, x1, y1, check_orientation;
  unsigned char *out;
  unsigned long capacity;
};

/* har_roi_decode's work, run by run_guarded. */
static int decode_region(j_decompress_ptr cinfo, struct har_error_mgr *jerr, const void *arg, int *info, char *err,
                         int err_len) {
  const struct region_request *r = (const struct region_request *)arg;
  int x0 = r->x0, y0 = r->y0, x1 = r->x1, y1 = r->y1;
  if (!read_header(cinfo, r->data, r->size, info)) return HAR_UNSUPPORTED;
  if (r->check_orientation && info[8] > 1) return HAR_ORIENTED;

  jerr->warnings = 0; /* header warnings (stray bytes between markers) do not touch the pixels */
  jerr->truncated = 0;
  cinfo->out_color_space = JCS_EXT_BGR;
  cinfo->scale_num = 1;
  cinfo->scale_denom = (unsigned int)(r->scale_denom > 0 ? r->scale_denom : 1);
  jpeg_calc_output_dimensions(cinfo);
  int w = (int)cinfo->output_width, h = (int)cinfo->output_height;
  info[2] = w;
  info[3] = h;

  if (x0 < 0) x0 = 0;
  if (y0 < 0) y0 = 0;
  if (x1 > w) x1 = w;
  if (y1 > h) y1 = h;
  if (x0 >= w) x0 = w - 1;
  if (y0 >= h) y0 = h - 1;
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  /* Before any pixel work: the region is at most one iMCU (<= 32 px) wider than asked once aligned. */
  if ((unsigned long)(x1 - x0 + 32) * 3UL * (unsigned long)(y1 - y0) > r->capacity) {
    info[6] = x1 - x0 + 32;
    info[7] = y1 - y0;
    return HAR_CAPACITY;
  }
  jpeg_start_decompress(cinfo);

  JDIMENSION xoff = (JDIMENSION)x0, width = (JDIMENSION)(x1 - x0);
  if (width < (JDIMENSION)w) jpeg_crop_scanline(cinfo, &xoff, &width);
  int rows = y1 - y0;
  info[4] = (int)xoff;
  info[5] = y0;
  info[6] = (int)width;
  info[7] = rows;
  unsigned long stride = (unsigned long)width * 3UL;
  if (stride * (unsigned long)rows > r->capacity) return HAR_CAPACITY;
  if (y0 > 0) jpeg_skip_scanlines(cinfo, (JDIMENSION)y0);
  while ((int)cinfo->output_scanline < y1) {
    JSAMPROW row = r->out + stride * (unsigned long)((int)cinfo->output_scanline - y0);
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  info[9] = jerr->truncated ? -jerr->warnings : jerr->warnings;
  if (jerr->warnings && err_len > 0) snprintf(err, (size_t)err_len, "%s", jerr->first_warning);
  return HAR_OK; /* run_guarded's jpeg_destroy_decompress abandons the rows below the region */
}

/* har_jpeg_info's work, run by run_guarded. */
static int header_info(j_decompress_ptr cinfo, struct har_error_mgr *jerr, const void *arg, int *info, char *err,
                       int err_len) {
  const struct region_request *r = (const struct region_request *)arg;
  (void)jerr, (void)err, (void)err_len;
  info[2] = read_header(cinfo, r->data, r->size, info);
  return HAR_OK;
}

typedef int (*har_work)(j_decompress_ptr, struct har_error_mgr *, const void *, int *, char *, int);

/* Runs work on a fresh decompressor whose errors jump back here: HAR_ERROR with libjpeg's message in err. */
static int run_guarded(har_work work, const void *arg, int *info, char *err, int err_len) {
  struct jpeg_decompress_struct cinfo;
  struct har_error_mgr jerr;
  int code;
  memset(info, 0, HAR_INFO_LEN * sizeof(int));
  if (err_len > 0) err[0] = '\0';
  cinfo.err = jpeg_std_error(&jerr.pub);
  jerr.pub.error_exit = har_error_exit;
  jerr.pub.emit_message = har_emit_message;
  jerr.warnings = 0;
  jerr.truncated = 0;
  jerr.first_warning[0] = '\0';
  if (setjmp(jerr.jump)) {
    if (err_len > 0) {
      char msg[JMSG_LENGTH_MAX];
      jerr.pub.format_message((j_common_ptr)&cinfo, msg);
      snprintf(err, (size_t)err_len, "%s", msg);
    }
    jpeg_destroy_decompress(&cinfo);
    return HAR_ERROR;
  }
  jpeg_create_decompress(&cinfo);
  code = work(&cinfo, &jerr, arg, info, err, err_len);
  jpeg_destroy_decompress(&cinfo);
  return code;
}

/* Decode rows [y0, y1) and columns [x0, x1) of the image scaled by 1/scale_denom (coordinates in scaled pixels,
 * clipped to the image; an empty clipped region becomes the nearest 1x1). The columns actually decoded start at
 * or before x0 (iMCU alignment). info (10 ints) receives:
 *   [0] image width, [1] image height (as stored, before scaling and EXIF orientation),
 *   [2] scaled width, [3] scaled height,
 *   [4] x, [5] y, [6] width, [7] height of the decoded region in scaled pixels (out holds height rows of
 *       width * 3 bytes),
 *   [8] EXIF orientation (0 when absent), [9] corrupt-data warnings while decoding the region (skipped rows
 *   included; header warnings not): their number, negated when the file was truncated (first message in err).
 * With check_orientation, a JPEG whose EXIF orientation is not 0 or 1 returns HAR_ORIENTED after the header. */
int har_roi_decode(const unsigned char *data, unsigned long size, int scale_denom, int x0, int y0, int x1, int y1,
                   int check_orientation, unsigned char *out, unsigned long capacity, int *info, char *err,
                   int err_len) {
  struct region_request r = {data, size, scale_denom, x0, y0, x1, y1, check_orientation, out, capacity};
  return run_guarded(decode_region, &r, info, err, err_len);
}

/* The header only: info[0] width, [1] height (as stored), [8] EXIF orientation (0 when absent), [2] 1 when
 * har_roi_decode can decode it (not CMYK/YCCK). Returns HAR_OK or HAR_ERROR (message in err). */
int har_jpeg_info(const unsigned char *data, unsigned long size, int *info, char *err, int err_len) {
  struct region_request r = {data, size, 1, 0, 0, 0, 0, 0, NULL, 0};
  return run_guarded(header_info, &r, info, err, err_len);
}
