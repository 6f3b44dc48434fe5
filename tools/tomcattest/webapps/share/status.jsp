<%@ page contentType="text/plain; charset=UTF-8" session="false" trimDirectiveWhitespaces="true" %>
<%
  // status.jsp?code=C: answers with status C; no body for 1xx, 204 and 304.
  int code = 200;
  String c = request.getParameter("code");
  if (c != null) {
    try { code = Integer.parseInt(c.trim()); } catch (NumberFormatException e) { code = 400; }
  }
  response.setStatus(code);
  if (code >= 200 && code != 204 && code != 304) {
    out.print("status " + code);
  }
%>
