<%@ page contentType="text/plain; charset=UTF-8" session="false" trimDirectiveWhitespaces="true" %>
<%
  // cl.jsp?len=L: a Content-Length header of L, as given (Tomcat passes on a
  // value it cannot parse as a plain header), and the 5-byte body "short".
  String len = request.getParameter("len");
  if (len != null) {
    response.setHeader("Content-Length", len);
  }
  out.print("short");
%>
