<%@ page contentType="text/plain; charset=UTF-8" session="false" trimDirectiveWhitespaces="true" %>
<%
  // Repeated response headers: three Set-Cookie and two X-Multi values.
  response.addHeader("Set-Cookie", "a=1; Path=/share");
  response.addHeader("Set-Cookie", "b=2; Path=/share; HttpOnly");
  response.addHeader("Set-Cookie", "c=3");
  response.addHeader("X-Multi", "one");
  response.addHeader("X-Multi", "two");
  out.print("ok");
%>
