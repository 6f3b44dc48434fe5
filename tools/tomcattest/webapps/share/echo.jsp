<%@ page isErrorPage="true" contentType="application/json; charset=UTF-8" session="false" trimDirectiveWhitespaces="true"
    import="java.io.InputStream,java.security.MessageDigest,java.util.ArrayList,java.util.Collections,java.util.Enumeration,java.util.LinkedHashSet,java.util.List,java.util.Set" %>
<%!
  // Writes s as a JSON string, or null. Everything outside printable ASCII is
  // written as a JSON unicode escape, so the output is ASCII whatever the
  // request held.
  private static void str(StringBuilder b, String s) {
    if (s == null) {
      b.append("null");
      return;
    }
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"') {
        b.append("\\\"");
      } else if (c == '\\') {
        b.append("\\\\");
      } else if (c < 0x20 || c >= 0x7f) {
        b.append(String.format("\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    b.append('"');
  }

  // Writes a request attribute value: numbers and booleans as such, client
  // certificates as the array of their subject DNs, other arrays element-wise,
  // anything else as its string form.
  private static void value(StringBuilder b, Object v) {
    if (v == null) {
      b.append("null");
    } else if (v instanceof Number || v instanceof Boolean) {
      b.append(v.toString());
    } else if (v instanceof java.security.cert.X509Certificate[]) {
      java.security.cert.X509Certificate[] certs = (java.security.cert.X509Certificate[]) v;
      b.append('[');
      for (int i = 0; i < certs.length; i++) {
        if (i > 0) b.append(',');
        str(b, certs[i].getSubjectX500Principal().getName());
      }
      b.append(']');
    } else if (v instanceof Object[]) {
      Object[] a = (Object[]) v;
      b.append('[');
      for (int i = 0; i < a.length; i++) {
        if (i > 0) b.append(',');
        value(b, a[i]);
      }
      b.append(']');
    } else {
      str(b, v.toString());
    }
  }

  private static void field(StringBuilder b, String name) {
    if (b.length() > 1) b.append(',');
    str(b, name);
    b.append(':');
  }

  private static final String[] FIXED_ATTRIBUTES = {
    "jakarta.servlet.request.cipher_suite",
    "jakarta.servlet.request.key_size",
    "jakarta.servlet.request.ssl_session_id",
    "jakarta.servlet.request.secure_protocol",
    "jakarta.servlet.request.X509Certificate",
    "AJP_REMOTE_PORT",
    "AJP_LOCAL_ADDR",
    "AJP_SSL_PROTOCOL",
  };
%>
<%
  // echo.jsp: the request as the servlet sees it, as one JSON object.
  // ?attr=a,b adds request attributes a and b. Parameters are never read
  // through getParameter: that would consume a form POST body.
  StringBuilder b = new StringBuilder(2048);
  b.append('{');
  field(b, "method"); str(b, request.getMethod());
  field(b, "requestURI"); str(b, request.getRequestURI());
  field(b, "contextPath"); str(b, request.getContextPath());
  field(b, "servletPath"); str(b, request.getServletPath());
  field(b, "pathInfo"); str(b, request.getPathInfo());
  field(b, "queryString"); str(b, request.getQueryString());
  field(b, "protocol"); str(b, request.getProtocol());
  field(b, "scheme"); str(b, request.getScheme());
  field(b, "secure"); b.append(request.isSecure());
  field(b, "serverName"); str(b, request.getServerName());
  field(b, "serverPort"); b.append(request.getServerPort());
  field(b, "remoteAddr"); str(b, request.getRemoteAddr());
  field(b, "remoteHost"); str(b, request.getRemoteHost());
  field(b, "remotePort"); b.append(request.getRemotePort());
  field(b, "localAddr"); str(b, request.getLocalAddr());
  field(b, "localName"); str(b, request.getLocalName());
  field(b, "localPort"); b.append(request.getLocalPort());
  field(b, "remoteUser"); str(b, request.getRemoteUser());
  field(b, "authType"); str(b, request.getAuthType());
  field(b, "contentLength"); b.append(request.getContentLengthLong());
  field(b, "contentType"); str(b, request.getContentType());
  field(b, "characterEncoding"); str(b, request.getCharacterEncoding());

  field(b, "headers");
  b.append('{');
  boolean firstHeader = true;
  for (Enumeration<String> names = request.getHeaderNames(); names.hasMoreElements(); ) {
    String name = names.nextElement();
    if (!firstHeader) b.append(',');
    firstHeader = false;
    str(b, name);
    b.append(":[");
    boolean firstValue = true;
    for (Enumeration<String> values = request.getHeaders(name); values.hasMoreElements(); ) {
      if (!firstValue) b.append(',');
      firstValue = false;
      str(b, values.nextElement());
    }
    b.append(']');
  }
  b.append('}');

  Set<String> attrNames = new LinkedHashSet<String>();
  Collections.addAll(attrNames, FIXED_ATTRIBUTES);
  String qs = request.getQueryString();
  if (qs != null) {
    for (String pair : qs.split("&")) {
      int eq = pair.indexOf('=');
      String key = eq < 0 ? pair : pair.substring(0, eq);
      if (!"attr".equals(key) || eq < 0) continue;
      String v;
      try {
        v = java.net.URLDecoder.decode(pair.substring(eq + 1), "UTF-8");
      } catch (IllegalArgumentException e) {
        continue;
      }
      for (String a : v.split(",")) {
        if (!a.isEmpty()) attrNames.add(a);
      }
    }
  }
  field(b, "attributes");
  b.append('{');
  boolean firstAttr = true;
  for (String name : attrNames) {
    if (!firstAttr) b.append(',');
    firstAttr = false;
    str(b, name);
    b.append(':');
    value(b, request.getAttribute(name));
  }
  b.append('}');

  MessageDigest sha = MessageDigest.getInstance("SHA-256");
  long bodyLength = 0;
  InputStream in = request.getInputStream();
  byte[] buf = new byte[65536];
  for (int k; (k = in.read(buf)) != -1; ) {
    sha.update(buf, 0, k);
    bodyLength += k;
  }
  StringBuilder hex = new StringBuilder(64);
  for (byte x : sha.digest()) {
    hex.append(String.format("%02x", x & 0xff));
  }
  field(b, "bodyLength"); b.append(bodyLength);
  field(b, "bodySHA256"); str(b, hex.toString());

  field(b, "token"); str(b, request.getHeader("X-Token"));
  jakarta.servlet.http.HttpSession s = request.getSession(false);
  field(b, "sessionId"); str(b, s == null ? null : s.getId());
  field(b, "requestedSessionId"); str(b, request.getRequestedSessionId());
  field(b, "node"); str(b, System.getProperty("tomcattest.node"));
  b.append("}\n");
  out.print(b);
%>
