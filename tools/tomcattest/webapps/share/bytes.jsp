<%@ page contentType="application/octet-stream" session="false" trimDirectiveWhitespaces="true" %>
<%
  // bytes.jsp?n=N&seed=S[&chunked=1]: exactly N bytes, byte i = (i*31 + S) & 0xff.
  // 65536*31 is a multiple of 256, so every 64 KiB block is the same.
  long n = 0;
  int seed = 0;
  try { if (request.getParameter("n") != null) n = Long.parseLong(request.getParameter("n")); } catch (NumberFormatException e) { }
  try { if (request.getParameter("seed") != null) seed = Integer.parseInt(request.getParameter("seed")); } catch (NumberFormatException e) { }
  if (n < 0) n = 0;
  if (!"1".equals(request.getParameter("chunked"))) {
    response.setContentLengthLong(n);
  }
  byte[] block = new byte[65536];
  for (int i = 0; i < block.length; i++) {
    block[i] = (byte) ((i * 31 + seed) & 0xff);
  }
  jakarta.servlet.ServletOutputStream os = response.getOutputStream();
  long left = n;
  while (left > 0) {
    int k = (int) Math.min(left, block.length);
    os.write(block, 0, k);
    left -= k;
  }
%>
